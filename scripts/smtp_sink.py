"""Local SMTP sink for the notifier: accepts every message and records it, delivers nothing.

Each message is appended to the log file (envelope, then the raw message) and also saved as one .eml file in
the mail directory, so a test or a person can read what the notifier sent. Runs until SIGINT/SIGTERM.
Started by scripts/stack.sh with the venv's Python (aiosmtpd pinned in scripts/requirements-stack.txt).
"""

import argparse
import asyncio
import datetime
import itertools
import pathlib
import signal

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, log_path: pathlib.Path, mail_dir: pathlib.Path) -> None:
        self.log_path = log_path
        self.mail_dir = mail_dir
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        eml = self.mail_dir / f"{stamp}-{next(self.counter)}.eml"
        eml.write_bytes(envelope.original_content or envelope.content)
        body = (envelope.original_content or envelope.content).decode("utf-8", "replace")
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(
                f"---------- message {now.isoformat()} ----------\n"
                f"X-Peer: {session.peer[0] if session.peer else '?'}\n"
                f"X-MailFrom: {envelope.mail_from}\n"
                f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\n"
                f"X-Saved-As: {eml}\n"
                f"{body}\n"
                f"---------- end of message ----------\n"
            )
        return "250 Message accepted for delivery"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12525)
    parser.add_argument("--log", type=pathlib.Path, required=True)
    parser.add_argument("--mail-dir", type=pathlib.Path, required=True)
    parser.add_argument(
        "--ready-file",
        type=pathlib.Path,
        help="written (atomically) once the port is bound: a test waits for it rather than connecting, which could"
        " reach another process that holds the port",
    )
    args = parser.parse_args()
    args.mail_dir.mkdir(parents=True, exist_ok=True)
    args.log.parent.mkdir(parents=True, exist_ok=True)

    controller = Controller(Recorder(args.log, args.mail_dir), hostname=args.host, port=args.port)
    controller.start()  # raises when the port cannot be bound
    print(f"smtp sink listening on {args.host}:{args.port}", flush=True)
    if args.ready_file:
        partial = args.ready_file.with_suffix(".partial")
        partial.write_text(f"{args.port}\n")
        partial.rename(args.ready_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    controller.stop()
    print("smtp sink stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
