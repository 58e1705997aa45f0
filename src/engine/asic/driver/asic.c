/* See asic.h. POSIX only: termios for the line, poll() for bounded waits. */
#define _DEFAULT_SOURCE
#include "asic.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

uint8_t asic_crc5(const uint8_t *data, size_t bits)
{
    uint8_t crc = 0x1f;
    for (size_t i = 0; i < bits; i++) {
        unsigned bit = (data[i / 8] >> (7 - i % 8)) & 1u;
        unsigned top = (crc >> 4) & 1u;
        crc = (uint8_t)((crc << 1) & 0x1f);
        if (bit ^ top)
            crc ^= 0x05;
    }
    return crc;
}

uint16_t asic_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xffff;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t asic_bm_command(uint8_t *out, size_t cap, uint8_t hdr, const uint8_t *payload, size_t plen)
{
    size_t total = plen + 5;
    /* LEN is one byte and real commands carry at most 6 payload bytes. */
    if (plen > 6 || cap < total)
        return 0;
    out[0] = 0x55;
    out[1] = 0xaa;
    out[2] = hdr;
    out[3] = (uint8_t)(plen + 3);
    if (plen)
        memcpy(out + 4, payload, plen);
    out[4 + plen] = asic_crc5(out + 2, (plen + 2) * 8);
    return total;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Midstate on the wire is BE(h7) .. BE(h0). */
static void put_midstate(uint8_t *p, const uint32_t h[8])
{
    for (int i = 0; i < 8; i++)
        put_be32(p + 4 * i, h[7 - i]);
}

/* Header tail on the wire: nbits, ntime, last merkle word, each as serialized. */
static void put_tail(uint8_t *p, const uint8_t header[80])
{
    memcpy(p, header + 72, 4);
    memcpy(p + 4, header + 68, 4);
    memcpy(p + 8, header + 64, 4);
}

/* 32 bytes with their eight 4-byte words in reverse order, bytes within a word kept. */
static void put_words_reversed(uint8_t *p, const uint8_t *src)
{
    for (int i = 0; i < 8; i++)
        memcpy(p + 4 * i, src + 4 * (7 - i), 4);
}

static size_t finish_job(uint8_t *out, size_t body_len)
{
    size_t crc_at = 2 + 2 + body_len;
    out[0] = 0x55;
    out[1] = 0xaa;
    out[2] = 0x21;
    out[3] = (uint8_t)(body_len + 4);
    uint16_t crc = asic_crc16(out + 2, crc_at - 2);
    out[crc_at] = (uint8_t)(crc >> 8);
    out[crc_at + 1] = (uint8_t)crc;
    return crc_at + 2;
}

size_t asic_bm1397_job(uint8_t *out, size_t cap, uint8_t job_id, uint32_t start_nonce,
                       const uint8_t header[80], const uint32_t *midstates, size_t n)
{
    if (n == 0 || n > 4)
        return 0;
    size_t body = 2 + 4 + 12 + 32 * n;
    if (cap < body + 6)
        return 0;
    uint8_t *b = out + 4;
    b[0] = job_id;
    b[1] = (uint8_t)n;
    put_le32(b + 2, start_nonce);
    put_tail(b + 6, header);
    for (size_t i = 0; i < n; i++)
        put_midstate(b + 18 + 32 * i, midstates + 8 * i);
    return finish_job(out, body);
}

size_t asic_bm1370_job(uint8_t *out, size_t cap, uint8_t job_header, uint32_t start_nonce,
                       const uint8_t header[80])
{
    size_t body = 2 + 4 + 4 + 4 + 32 + 32 + 4;
    if (cap < body + 6)
        return 0;
    uint8_t *b = out + 4;
    b[0] = job_header;
    b[1] = 0x01;
    put_le32(b + 2, start_nonce);
    memcpy(b + 6, header + 72, 4);
    memcpy(b + 10, header + 68, 4);
    put_words_reversed(b + 14, header + 36);
    put_words_reversed(b + 46, header + 4);
    memcpy(b + 78, header, 4);
    return finish_job(out, body);
}

void asic_icarus_work(uint8_t out[64], const uint32_t midstate[8], const uint8_t header[80],
                      uint8_t work_id)
{
    memset(out, 0, 64);
    put_midstate(out, midstate);
    out[51] = work_id;
    put_tail(out + 52, header);
}

int asic_scan(const uint8_t *buf, size_t len, size_t frame_len, struct asic_reply *out,
              size_t *consumed)
{
    *consumed = 0;
    memset(out, 0, sizeof *out);
    if (frame_len == 4 || frame_len == 5) {
        if (len < frame_len)
            return ASIC_SCAN_NEED_MORE;
        memcpy(out->data, buf, 4);
        if (frame_len == 5)
            out->b7 = buf[4] & 0x1f;
        out->kind = ASIC_REPLY_NONCE;
        *consumed = frame_len;
        return ASIC_SCAN_FRAME;
    }
    if (frame_len != 9 && frame_len != 11) {
        *consumed = len;
        return ASIC_SCAN_BAD;
    }
    size_t start = 0;
    while (start + 1 < len && !(buf[start] == 0xaa && buf[start + 1] == 0x55))
        start++;
    /* A trailing lone AA may be the first half of the next preamble: keep it. */
    if (start + 1 >= len) {
        size_t keep = (len > 0 && buf[len - 1] == 0xaa) ? 1 : 0;
        *consumed = len - keep;
        return *consumed ? ASIC_SCAN_BAD : ASIC_SCAN_NEED_MORE;
    }
    if (start > 0) {
        *consumed = start;
        return ASIC_SCAN_BAD;
    }
    if (len < frame_len)
        return ASIC_SCAN_NEED_MORE;
    if (asic_crc5(buf + 2, (frame_len - 2) * 8) != 0) {
        /* Drop only the preamble, so a real frame hidden inside a short one is still found. */
        *consumed = 2;
        return ASIC_SCAN_BAD;
    }
    memcpy(out->data, buf + 2, 4);
    out->b6 = buf[6];
    out->b7 = buf[7];
    if (frame_len == 11)
        out->version = (uint16_t)((buf[8] << 8) | buf[9]);
    out->kind = (buf[frame_len - 1] & 0x80) ? ASIC_REPLY_NONCE : ASIC_REPLY_REGISTER;
    *consumed = frame_len;
    return ASIC_SCAN_FRAME;
}

/* Nearest rate termios can express; BM13xx rates such as 1.5625 Mbaud land within a few percent. */
static speed_t speed_for(uint32_t baud)
{
    static const struct {
        uint32_t rate;
        speed_t code;
    } table[] = {
        {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
        {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
        {921600, B921600},   {1000000, B1000000}, {1500000, B1500000}, {2000000, B2000000},
        {3000000, B3000000},
    };
    speed_t best = B115200;
    uint32_t best_diff = UINT32_MAX;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        uint32_t d = table[i].rate > baud ? table[i].rate - baud : baud - table[i].rate;
        if (d < best_diff) {
            best_diff = d;
            best = table[i].code;
        }
    }
    return best;
}

static int configure(int fd, uint32_t baud, int when)
{
    struct termios t;
    if (tcgetattr(fd, &t) != 0)
        return -errno;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
                             IXOFF | IXANY);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    /* Reads are bounded by poll(); VTIME is a backstop so read() itself never waits long. */
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 1;
    speed_t s = speed_for(baud);
    if (cfsetispeed(&t, s) != 0 || cfsetospeed(&t, s) != 0)
        return -errno;
    if (tcsetattr(fd, when, &t) != 0)
        return -errno;
    return 0;
}

int asic_open(const char *path, uint32_t baud)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = configure(fd, baud, TCSANOW);
    if (rc == 0 && tcflush(fd, TCIOFLUSH) != 0)
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int asic_set_baud(int fd, uint32_t baud)
{
    /* Drain first so the command that changed the chip's rate leaves at the old rate. */
    return configure(fd, baud, TCSADRAIN);
}

int asic_flush(int fd)
{
    /* Input only: a frame written but not yet read by the device must still arrive. */
    return tcflush(fd, TCIFLUSH) == 0 ? 0 : -errno;
}

long asic_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return errno == EIO ? -EPIPE : -errno;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return -EPIPE;
    }
    return (long)done;
}

long asic_read(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    if (r == 0)
        return 0;
    if (!(p.revents & POLLIN))
        return -EPIPE;
    ssize_t n = read(fd, buf, cap);
    if (n > 0)
        return (long)n;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    /* POLLIN with nothing to read, or EIO: the other end is gone (a pty whose master closed). */
    return -EPIPE;
}

int asic_close(int fd)
{
    return close(fd) == 0 ? 0 : -errno;
}
