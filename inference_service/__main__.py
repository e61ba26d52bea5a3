"""`python -m inference_service [--config FILE] [--host HOST] [--port PORT]`.

Flags override the config file (and environment). Cheap checks (config values,
device, checkpoint header) run before the server starts, so a bad setup fails in
a second with one clear line and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from pydantic import ValidationError

from .inference import PipelineFactory, pipeline_from_settings
from .logging_setup import configure_logging
from .settings import ENV_PREFIX, Settings, SettingsError

log = logging.getLogger("inference_service")

EXIT_CONFIG, EXIT_STARTUP = 2, 1


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before its graceful shutdown: on the first SIGTERM, `start_draining` turns
    /ready to 503 and requests are still served for `drain_s`, so a load balancer or Kubernetes stops
    sending here first; then uvicorn stops accepting and lets the requests in flight finish. A second
    signal, or SIGINT, shuts down at once (gracefully)."""

    def __init__(self, config: uvicorn.Config, drain_s: float, start_draining: Callable[[], None]):
        super().__init__(config)
        self.drain_s, self.start_draining = drain_s, start_draining
        self._drain: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_s <= 0 or self._drain is not None:
            super().handle_exit(sig, frame)
            return
        self.start_draining()
        log.info("SIGTERM: draining for %g s", self.drain_s, extra={"event": "draining"})
        self._drain = threading.Timer(self.drain_s, super().handle_exit, (sig, None))
        self._drain.daemon = True
        self._drain.start()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inference_service",
        description=f"Serve the age estimator. Every config key can also be set as {ENV_PREFIX}<KEY>.",
    )
    parser.add_argument("--config", help="TOML config file (default: $AGE_CONFIG or service.cfg)")
    parser.add_argument("--host", help="address to bind (overrides the config)")
    parser.add_argument("--port", type=int, help="port to bind (overrides the config)")
    parser.add_argument(
        "--torch-free",
        action="store_true",
        help="serve nothing: exit 0 when the configured model runs here without torch (its graphs are "
        "ready for the engine `auto` picks on this CPU), 1 when it needs torch (`make run` then installs it)",
    )
    return parser.parse_args(argv)


def torch_free_status(settings: Settings) -> int:
    """`--torch-free`: 0 when the configured model serves here without torch, 1 when it needs it."""
    from .vision.checkpoint import CheckpointError
    from .vision.devices import resolve_device
    from .vision.engines import needs_torch
    from .vision.ensemble import model_files

    try:
        device = resolve_device(settings.device)
    except ImportError:  # an NVIDIA driver and no torch: serving on CUDA needs it
        return 1
    try:
        files = model_files(settings.age_model.path)
        return int(any(needs_torch(path, settings.age_model.engine, device) for path in files))
    except (CheckpointError, RuntimeError, ValueError) as exc:
        return _fail(str(exc), EXIT_STARTUP)


def _fail(message: str, code: int) -> int:
    log.error(message, extra={"event": "startup_failed"})
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None, pipeline_factory: PipelineFactory | None = None) -> int:
    """Run the server; returns the exit status. `pipeline_factory` lets tests wrap the real models."""
    args = parse_args(argv)
    configure_logging()
    try:
        settings = Settings.load(args.config, host=args.host, port=args.port)
    except (SettingsError, ValidationError) as exc:
        return _fail(f"invalid configuration: {' '.join(str(exc).split())}", EXIT_CONFIG)
    configure_logging(settings.log_level)
    if args.torch_free:
        return torch_free_status(settings)

    from .vision.checkpoint import CheckpointError
    from .vision.devices import resolve_device
    from .vision.ensemble import model_files

    try:
        device = resolve_device(settings.device)
        model_files(settings.age_model.path)
    except (CheckpointError, RuntimeError, ValueError) as exc:
        return _fail(str(exc), EXIT_STARTUP)
    log.info(
        "device %s (setting %r)", device, settings.device, extra={"event": "device", "device": str(device)}
    )
    settings = settings.model_copy(update={"device": device})  # resolved once: the models load on it

    from .app import create_app

    fatal: list[str] = []
    server: uvicorn.Server | None = None

    def on_fatal(reason: str) -> None:
        fatal.append(reason)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, pipeline_factory=pipeline_factory or pipeline_from_settings, on_fatal=on_fatal)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        server_header=False,
    )
    runtime = app.state.runtime
    server = DrainingServer(config, settings.drain_s, lambda: setattr(runtime, "draining", True))
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would end the
    # process "killed by signal"; with these no-op handlers it returns and we exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    server.run()
    if fatal:
        return _fail(f"startup failed: {fatal[0]}", EXIT_STARTUP)
    if not server.started:
        return _fail("the server did not start (is the port in use?)", EXIT_STARTUP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
