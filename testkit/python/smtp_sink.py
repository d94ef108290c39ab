"""An SMTP sink for Fleet's tests (testkit::SmtpSink), on aiosmtpd.

Listens on 127.0.0.1:PORT without authentication and stores each message it
accepts as DIR/NNNNNN.eml, with DIR/NNNNNN.json beside it: the envelope,
whether the session was encrypted, and the headers and parts as Python's email
package reads them, so the Rust tests check what an independent parser sees.
Recipients named with --reject are refused with 550 at RCPT TO. With --cert
and --key it requires STARTTLS before accepting mail, or with --implicit-tls
speaks TLS from the first byte.

    python smtp_sink.py --port 2525 --dir /tmp/mails [--reject a@x --reject b@y]
                        [--cert cert.pem --key key.pem [--implicit-tls]]
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = {r.lower() for r in reject}
        self.count = len([n for n in os.listdir(directory) if n.endswith(".eml")])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        stem = os.path.join(self.directory, "%06d" % self.count)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts.setdefault(part.get_content_type(), part.get_content())
        summary = {
            "mail_from": envelope.mail_from,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        with open(stem + ".eml.tmp", "wb") as f:
            f.write(raw)
        with open(stem + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(summary, f)
        os.replace(stem + ".eml.tmp", stem + ".eml")
        os.replace(stem + ".json.tmp", stem + ".json")
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--implicit-tls", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    handler = Sink(args.dir, args.reject)
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    starttls = context if context and not args.implicit_tls else None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(
                handler,
                hostname="sink.test",
                decode_data=False,
                tls_context=starttls,
                require_starttls=starttls is not None,
            ),
            host="127.0.0.1",
            port=args.port,
            ssl=context if args.implicit_tls else None,
        )
    )
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print("smtp sink listening on 127.0.0.1:%d" % args.port, flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
