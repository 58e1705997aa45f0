/*
 * Thin C layer for USB mining sticks: serial I/O on a tty, frame building, checksums and
 * reply parsing into plain structs. Every decision (which job, which version, whether a nonce
 * is any good) is made by the Rust caller; nothing here allocates or keeps state between calls.
 *
 * Byte-order conventions follow the wire: a "midstate" argument is the eight SHA-256 state words
 * h0..h7 after the header's first 64 bytes; a job's starting nonce is a header field and goes out
 * in header (little-endian) order. Every reference firmware sends 0.
 */
#ifndef SHA256D_ASIC_H
#define SHA256D_ASIC_H

#include <stddef.h>
#include <stdint.h>

#define ASIC_REPLY_REGISTER 1
#define ASIC_REPLY_NONCE 2

#define ASIC_SCAN_NEED_MORE 0
#define ASIC_SCAN_FRAME 1
#define ASIC_SCAN_BAD 2

/* Longest frame the builders emit: a BM1397 job with four midstates. */
#define ASIC_MAX_FRAME 152

struct asic_reply {
    /* Register value (MSB first) or the nonce bytes exactly as on the wire. */
    uint8_t data[4];
    /* BM13xx: byte 6 (chip address, midstate index or excess difficulty by chip family). */
    uint8_t b6;
    /* BM13xx: byte 7 (register address, job id | midstate, or result header); ANU: work id. */
    uint8_t b7;
    /* 11-byte nonce replies: the rolled version bits, shifted right by 13. */
    uint16_t version;
    /* ASIC_REPLY_REGISTER or ASIC_REPLY_NONCE. */
    uint8_t kind;
};

uint8_t asic_crc5(const uint8_t *data, size_t bits);
uint16_t asic_crc16(const uint8_t *data, size_t len);

/* 55 AA | hdr | len | payload | crc5. Returns the frame length, or 0 if it does not fit. */
size_t asic_bm_command(uint8_t *out, size_t cap, uint8_t hdr, const uint8_t *payload, size_t plen);

/* BM1397 job: 1..4 midstates (n * 8 words), header tail from the 80-byte header. */
size_t asic_bm1397_job(uint8_t *out, size_t cap, uint8_t job_id, uint32_t start_nonce,
                       const uint8_t header[80], const uint32_t *midstates, size_t n);

/* BM1366/68/70 full-header job; the chip computes the midstate and rolls the version. */
size_t asic_bm1370_job(uint8_t *out, size_t cap, uint8_t job_header, uint32_t start_nonce,
                       const uint8_t header[80]);

/* Icarus 64-byte work packet (no framing, no checksum). */
void asic_icarus_work(uint8_t out[64], const uint32_t midstate[8], const uint8_t header[80],
                      uint8_t work_id);

/*
 * Finds the next reply of `frame_len` bytes (4 or 5: Icarus/ANU, unframed; 9 or 11: BM13xx,
 * AA 55 preamble and CRC5) at the start of buf. Always sets *consumed to the bytes the caller
 * should drop. Returns ASIC_SCAN_FRAME with *out filled, ASIC_SCAN_BAD when garbage or a frame
 * with a bad checksum was dropped, or ASIC_SCAN_NEED_MORE.
 */
int asic_scan(const uint8_t *buf, size_t len, size_t frame_len, struct asic_reply *out,
              size_t *consumed);

/* Serial port. Negative returns are -errno; -EPIPE means the device hung up. */
int asic_open(const char *path, uint32_t baud);
int asic_set_baud(int fd, uint32_t baud);
int asic_flush(int fd);
long asic_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms);
long asic_read(int fd, uint8_t *buf, size_t cap, int timeout_ms);
int asic_close(int fd);

#endif
