# Reads the cgminer API on 127.0.0.1, at the port given as the argument, through pyasic's RPC
# class and its cgminer miner backend, and prints what pyasic made of it as one JSON object.
import asyncio, json, sys
from pyasic.rpc.cgminer import CGMinerRPCAPI
from pyasic.miners.backends.cgminer import CGMiner

async def main(port):
    rpc = CGMinerRPCAPI("127.0.0.1", port)
    summary = await rpc.summary()
    pools = await rpc.pools()
    devs = await rpc.devs()
    joined = await rpc.multicommand("summary", "pools", "devs")
    miner = CGMiner("127.0.0.1")
    miner.rpc.port = port
    hashrate = await miner.get_hashrate()
    miner_pools = await miner.get_pools()
    print(json.dumps({
        "summary": summary["SUMMARY"][0],
        "pools": pools["POOLS"],
        "devs": devs["DEVS"],
        "joined": {k: v[0] for k, v in joined.items() if k in ("summary", "pools", "devs")},
        "fw_ver": await miner.get_fw_ver(),
        "uptime": await miner.get_uptime(),
        "hashrate_hs": None if hashrate is None else float(hashrate.into(hashrate.unit.H)),
        "miner_pools": [
            {"url": str(p.url), "user": p.user, "accepted": p.accepted,
             "rejected": p.rejected, "alive": p.alive, "active": p.active, "index": p.index}
            for p in miner_pools
        ],
    }))

asyncio.run(main(int(sys.argv[1])))
