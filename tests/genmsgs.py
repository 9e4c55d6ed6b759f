#!/usr/bin/env python3
"""Generate realistic flespi channel messages as NDJSON on stdout.

genmsgs.py COUNT [--devices N] [--seed S] [--start UNIXTIME]

Several devices drive along a route (a loop around a city centre); each
message has about 28 fields and is 500-700 bytes, with the parameter mix a
real tracker sends: position, ignition, voltages, CAN counters (some past
32 bits), GSM data, digital inputs and outputs.  Output is deterministic
for a given seed.
"""
import argparse
import json
import math
import random
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("count", type=int)
    ap.add_argument("--devices", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=1764000000)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    devs = []
    for d in range(a.devices):
        devs.append({
            "ident": "35262506600%04d" % (4561 + d),
            "id": 182083 + d,
            "name": "Truck %02d" % (d + 1),
            "phase": rnd.random() * 2 * math.pi,
            "mileage": 4_000_000_000 + rnd.randrange(10**8),
            "fuel": 60 + rnd.random() * 300,
        })
    out = sys.stdout
    t = a.start
    for i in range(a.count):
        d = devs[i % a.devices]
        if i % a.devices == 0:
            t += 1
        d["phase"] += 0.0007
        lat = 55.7522 + 0.05 * math.sin(d["phase"])
        lon = 37.6156 + 0.08 * math.cos(d["phase"])
        speed = max(0, round(50 + 35 * math.sin(d["phase"] * 7) + rnd.uniform(-5, 5)))
        d["mileage"] += speed * 3
        d["fuel"] = max(5.0, d["fuel"] - 0.003)
        ign = speed > 0
        m = {
            "ident": d["ident"],
            "timestamp": t + round(rnd.random(), 6),
            "server.timestamp": t + 1 + round(rnd.random(), 6),
            "channel.id": 1234,
            "protocol.id": 14,
            "peer": "10.%d.%d.%d:%d" % (rnd.randrange(256), rnd.randrange(256),
                                       rnd.randrange(256), 20000 + rnd.randrange(40000)),
            "device.id": d["id"],
            "device.name": d["name"],
            "position.latitude": round(lat, 6),
            "position.longitude": round(lon, 6),
            "position.altitude": round(140 + 20 * math.sin(d["phase"] * 3), 1),
            "position.direction": round(math.degrees(d["phase"]) % 360),
            "position.speed": speed,
            "position.satellites": rnd.randrange(4, 20),
            "position.hdop": round(rnd.uniform(0.5, 2.5), 2),
            "position.valid": True,
            "engine.ignition.status": ign,
            "movement.status": speed > 2,
            "external.powersource.voltage": round(rnd.uniform(12.1, 14.4), 2),
            "battery.voltage": round(rnd.uniform(3.7, 4.2), 3),
            "gsm.signal.level": rnd.randrange(20, 100),
            "gsm.mcc": 250,
            "gsm.mnc": 1,
            "gsm.lac": 7730 + rnd.randrange(10),
            "can.vehicle.mileage": d["mileage"],
            "can.fuel.level": round(d["fuel"], 1),
            "can.engine.rpm": 800 + speed * 25,
            "din": rnd.randrange(8),
            "dout": rnd.randrange(2),
            "event.enum": rnd.choice([0, 240, 247, 252]),
        }
        out.write(json.dumps(m, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)
