"""``stylecloak serve``: the local web app."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import webbrowser
from pathlib import Path

import click

from ..device import DEVICES
from ..errors import StylecloakError
from ..io.read import WEB_MAX_PIXELS
from . import console, fail, main


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses (only this computer can connect)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only, unless --allow-remote).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host: other machines that have the printed token can then upload and download.")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name or address others use to reach this server (with --allow-remote; repeatable).",
)
@click.option("--max-upload-mb", type=click.FloatRange(0.1), default=50, show_default=True, help="Largest image file accepted.")
@click.option(
    "--max-pixels",
    type=click.IntRange(256),
    default=WEB_MAX_PIXELS,
    show_default=True,
    help="Largest image accepted, in pixels (width × height); protecting needs memory in proportion.",
)
@click.option("--device", default="auto", show_default=True, metavar="|".join(DEVICES), help="Where the models run (auto: CUDA, then MPS, then CPU).")
@click.option("--open", "open_browser", is_flag=True, help="Open the app in the web browser once the server is listening.")
def serve(
    host: str,
    port: int,
    weights_dir: Path | None,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
    max_upload_mb: float,
    max_pixels: int,
    device: str,
    open_browser: bool,
) -> None:
    """Start the web app and print its address (stop with Ctrl+C); --open opens it in the browser.

    With --allow-remote the printed address carries an access token that every request needs,
    and only the --allowed-host names (and --host itself) are accepted as the Host header.

    \b
    Examples:
      stylecloak serve --open
      stylecloak serve --port 0 --weights-dir ~/models
      stylecloak serve --host 0.0.0.0 --allow-remote --allowed-host studio.local
    """
    remote = not is_loopback(host)
    if remote and not allow_remote:
        fail(f"--host {host} is not a loopback address: other machines could use this server and see its images; add --allow-remote to do that anyway")
    wildcard = host.strip("[]") in ("0.0.0.0", "::", "")
    if remote and wildcard and not allowed_hosts:
        fail(f"--host {host} listens on every address: add --allowed-host NAME with the name or address others will type (e.g. this machine's IP)")
    import uvicorn

    from ..web import create_app
    from ..web.app import LOOPBACK_HOSTS

    names = LOOPBACK_HOSTS | {h.lower().strip("[]") for h in allowed_hosts} | (set() if wildcard else {host.lower().strip("[]")})
    try:
        app = create_app(
            weights_dir=weights_dir, max_upload_mb=max_upload_mb, max_pixels=max_pixels, allowed_hosts=frozenset(names), require_token=remote, device=device
        )
    except StylecloakError as exc:
        fail(str(exc))
    try:
        app.state.jobs.protector("default", "default")  # fail now, not at the first upload, if weights are missing
        sock = _bind(host, port)
    except StylecloakError as exc:
        app.state.jobs.close()
        fail(str(exc))
    except OSError as exc:
        app.state.jobs.close()
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port, or --port 0 for any free one")
    bound_host, bound_port = sock.getsockname()[:2]
    shown = allowed_hosts[0] if remote and wildcard else bound_host
    shown = f"[{shown}]" if ":" in shown else shown
    query = f"?token={app.state.token}" if remote else ""
    if remote:
        console.print(
            f"[yellow]Warning:[/yellow] listening on {host} without encryption: anyone on the network who sees the address below (with its token) can upload images and use this machine's CPU.",
            highlight=False,
            soft_wrap=True,
        )
    url = f"http://{shown}:{bound_port}/{query}"
    click.echo(f"stylecloak is running at {url}  (Ctrl+C to stop)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    if open_browser:
        threading.Thread(target=_open_when_listening, args=(server, url), name="stylecloak-open", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after its clean shutdown
        server.run(sockets=[sock])
    click.echo("stopped; uploaded and protected files were deleted")


def _open_when_listening(server, url: str, timeout: float = 60.0) -> None:
    """Open ``url`` in the default browser as soon as ``server`` (a uvicorn server) has started; never if it stops first."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if server.should_exit or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    if not webbrowser.open(url):
        console.print(f"[yellow]warning:[/yellow] could not open a web browser; open {url} yourself", highlight=False)


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to host:port (port 0: the OS picks a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
