"""Baseline for bench/pool: a bare DEALER that echoes every frame back, with no protocol work."""
import argparse

import zmq


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", required=True)
    args = parser.parse_args()
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.setsockopt(zmq.ROUTING_ID, b"raw")
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(args.connect)
    socket.send(b"ready")
    while True:
        frame = socket.recv()
        if frame == b"stop":
            break
        socket.send(frame)


if __name__ == "__main__":
    main()
