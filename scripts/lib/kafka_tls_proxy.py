"""TLS in front of the dev stack's Tansu broker (scripts/dev-stack, MAILROOM_KAFKA_TLS=1). Dev/test only.

    kafka_tls_proxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT --cert server.crt --key server.key

Tansu 0.6.0 cannot serve TLS: its `broker --cert/--key` options are unfinished upstream (clap puts both in one
group, so they cannot be given together, and the broker builds a TLS acceptor it never uses), so a client that
speaks TLS to it waits for a handshake that never comes. This terminates TLS (1.2 or later) on the listen
address and relays the plaintext Kafka bytes to Tansu, which advertises the TLS address in its metadata, so every
connection of a client goes through here. Standard library only; loopback addresses only. Stops on SIGTERM or
SIGINT.
"""
import argparse
import asyncio
import ipaddress
import signal
import ssl
import sys
import time


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} kafka-tls-proxy: {message}", file=sys.stderr, flush=True)


def loopback(text):
    host, sep, port = text.rpartition(":")
    try:
        if not sep or not ipaddress.ip_address(host.strip("[]")).is_loopback:
            raise ValueError
        return host.strip("[]"), int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a loopback address as HOST:PORT, e.g. 127.0.0.1:19092, not {text!r}")


async def relay(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()  # the other side's reader sees the end, so the other relay ends too


async def connection(client_reader, client_writer, upstream):
    # Called once the TLS handshake succeeded. asyncio drops a failed one without a word; the client reports why
    # (librdkafka: "SSL handshake failed: ... certificate verify failed").
    peer = "%s:%s" % (client_writer.get_extra_info("peername") or ("?", "?"))[:2]
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*upstream)
    except OSError as error:
        log(f"{peer}: broker at {upstream[0]}:{upstream[1]} unreachable: {error}")
        client_writer.close()
        return
    await asyncio.gather(relay(client_reader, upstream_writer), relay(upstream_reader, client_writer))


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=loopback, required=True)
    parser.add_argument("--upstream", type=loopback, required=True)
    parser.add_argument("--cert", required=True, help="server certificate (PEM), chain after it if any")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # reuse_address (asyncio's default on Unix): a restart binds at once, even with connections in TIME_WAIT.
    server = await asyncio.start_server(
        lambda r, w: connection(r, w, args.upstream), *args.listen, ssl=context, ssl_handshake_timeout=10
    )
    log(f"TLS on {args.listen[0]}:{args.listen[1]} -> Kafka at {args.upstream[0]}:{args.upstream[1]}")
    await stop.wait()
    server.close()
    log("stopped")


if __name__ == "__main__":
    asyncio.run(main())
