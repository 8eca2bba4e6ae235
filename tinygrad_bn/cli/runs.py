"""What every training command does around its training, in one place: the ``--out`` folder (checked
before any work, locked against a second run, never overwritten silently), checkpoints and
``--resume``, Ctrl-C and SIGTERM, divergence, and the exit statuses.

    def run(args):
        return runs.run_training("mnist", args.out, resume=args.resume, force=args.force,
                                 finished=("model.npz",), body=lambda run: train(args, run))

Inside ``body(run)``: ``run.resume_from`` is the checkpoint to continue from (or None, and
``resumed_args`` gives the options it was started with); call ``run.save_checkpoint(epoch=..., ...)``
after each epoch (before printing the epoch's line), set ``run.position`` to what is being trained,
and write the final outputs inside ``with run.critical():`` (a signal then waits until the block is
done).

Exit statuses (``EXIT_*``): 0 done; 1 the training diverged, or the data set is not available;
2 a usage error, reported in one line before any work where possible (a bad option, an ``--out`` that
cannot be created or written or that holds another run, data that cannot be read); 130 stopped by
SIGINT (Ctrl-C), 143 by SIGTERM (128 + the signal number, as shells report it).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tinygrad_bn.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tinygrad_bn.checks import short_path
from tinygrad_bn.train import DivergenceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CHECKPOINT = "checkpoint.npz"
LOCK = ".lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]


class RunError(Exception):
    """An error for the user, printed as one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE):
        super().__init__(message)
        self.status = status


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (a BaseException, so ``except Exception`` in the training does not stop it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def add_run_arguments(p: argparse.ArgumentParser, finished: str) -> None:
    """--resume and --force (``finished`` names the file a finished run leaves, for the help text).
    Call it after every other option: it records their defaults for :func:`resumed_args`."""
    p.add_argument("--resume", action="store_true",
                   help=f"continue the unfinished run in --out from its last checkpoint ({CHECKPOINT}), with the "
                        "options it was started with")
    p.add_argument("--force", action="store_true",
                   help=f"start afresh even if --out holds a run ({finished}, {CHECKPOINT}): they are replaced")
    # the defaults, to tell an option given on the command line from one left alone (see resumed_args)
    p.set_defaults(_defaults=vars(p.parse_known_args([])[0]))


#: options that may differ when a run is resumed (where it is, how it reports, where the data is)
FREE_ON_RESUME = ("out", "resume", "force", "no_progress", "data_dir", "no_download")


def _describe(key: str, value: Any) -> str:
    flag = "--" + key.replace("_", "-")
    if value is None or value is False:
        return f"no {flag}"
    if value is True:
        return flag
    return f"{flag} {','.join(map(str, value)) if isinstance(value, (list, tuple)) else value}"


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value


def json_options(args: argparse.Namespace) -> dict[str, Any]:
    """The command's options as JSON values (kept in metrics/summary files and in checkpoints)."""
    return {k: _jsonable(v) for k, v in vars(args).items() if not k.startswith("_") and k != "command"}


def resumed_args(args: argparse.Namespace, saved: dict[str, Any]) -> argparse.Namespace:
    """``args`` with the options the resumed run was started with (``saved``, from its checkpoint). An
    option given on the command line (one that is not at its default) that differs from the saved one is
    refused (RunError): the result would be neither run."""
    defaults = getattr(args, "_defaults", {})
    merged = argparse.Namespace(**vars(args))
    for key, value in saved.items():
        if key in FREE_ON_RESUME or not hasattr(args, key):
            continue
        current = _jsonable(getattr(args, key))
        if current != value and current != _jsonable(defaults.get(key)):
            raise RunError(f"--resume continues the run with the options it was started with; "
                           f"{_describe(key, current)} differs (the run has {_describe(key, value)})")
        setattr(merged, key, tuple(value) if isinstance(defaults.get(key), tuple) else value)
    return merged


def check_writable_folder(out: Path, option: str = "--out") -> list[Path]:
    """Create ``out`` if needed and write (then remove) a file in it; RunError naming the problem.
    Returns the folders it created, deepest first (so that a run that writes nothing can remove them)."""
    where = f"{option} {short_path(out)}"
    created, folder = [], out.absolute()
    with contextlib.suppress(OSError):
        while not folder.exists() and folder != folder.parent:
            created.append(folder)
            folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunError(f"{where}: is a file, not a folder") from None
    except OSError as e:
        problem = "a folder above it is a file" if e.errno == errno.ENOTDIR else e.strerror or str(e)
        raise RunError(f"{where}: cannot be created ({problem})") from None
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise RunError(f"{where}: cannot be written ({e.strerror or e})") from None
    return created


def check_writable_file(path: Path, option: str = "--out") -> None:
    """The folder of ``path`` can be created and written, and ``path`` is not a folder."""
    check_writable_folder(path.parent if str(path.parent) else Path("."), option)
    if path.is_dir():
        raise RunError(f"{option} {short_path(path)}: is a folder; give a file name")


class _Lock:
    """An exclusive ``flock`` on ``folder/.lock``, held while the run lives (released by the system if
    the process dies, so a lock is never stale); the file is removed when the run ends."""

    def __init__(self, folder: Path):
        self.path, self.fd = folder / LOCK, -1

    def acquire(self, command: str) -> None:
        if fcntl is None:  # pragma: no cover
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                holder = (self.path.read_text().strip() if self.path.exists() else "") or "another process"
                raise RunError(f"--out {short_path(self.path.parent)}: another run is writing into this folder "
                               f"({holder}); wait for it or choose another --out") from None
            try:  # the file we locked may have been removed by the run that just ended: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"tinygrad-bn {command}, process {os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            os.close(self.fd)  # closing releases the flock
            self.fd = -1


class Run:
    """One run of a training command in its ``--out`` folder (see the module docstring)."""

    def __init__(self, command: str, out: Path, finished: tuple[str, ...]):
        self.command, self.out, self.finished = command, out, finished
        self.checkpoint = out / CHECKPOINT
        self.resume_from: Checkpoint | None = None
        self.saved: str | None = None      # what the newest checkpoint on disk holds, e.g. "epoch 2"
        self.position: str | None = None   # what is being trained now, e.g. "epoch 3" (for the messages)
        self._lock = _Lock(out)
        self._signal: int | None = None
        self._critical = 0
        self._created: list[Path] = []

    # ---- the folder -------------------------------------------------------------------------
    def open(self, resume: bool, force: bool) -> None:
        """Check and lock ``--out``; with ``resume`` read its checkpoint; refuse to overwrite a run silently."""
        if resume and force:
            raise RunError("--resume continues the run in --out, --force replaces it: give one of them")
        self._created = check_writable_folder(self.out)
        self._lock.acquire(self.command)
        done = [name for name in self.finished if (self.out / name).exists()]
        has_checkpoint = self.checkpoint.is_file()
        where = f"--out {short_path(self.out)}"
        if force:
            for name in [*self.finished, CHECKPOINT]:
                with contextlib.suppress(FileNotFoundError):
                    (self.out / name).unlink()
        elif resume:
            if done:
                raise RunError(f"--resume: the run in {short_path(self.out)} has finished ({', '.join(done)}); "
                               "nothing to resume (--force starts over)")
            if not has_checkpoint:
                raise RunError(f"--resume: {where} holds no checkpoint ({CHECKPOINT}) to continue; start a "
                               "new run without --resume")
            try:
                self.resume_from = load_checkpoint(self.checkpoint)
            except (ValueError, FileNotFoundError) as e:
                raise RunError(f"--resume: {e}; start over with --force") from None
            self.saved = self.resume_from.meta.get("label", f"epoch {self.resume_from.epoch}")
        elif done or has_checkpoint:
            if done:
                what = f"a finished run ({', '.join(done)}); pass --force to replace it"
            else:
                what = (f"an unfinished run ({CHECKPOINT}); pass --resume to continue it, --force to start "
                        "over")
            raise RunError(f"{where} already holds {what}, or choose another --out folder")

    def close(self) -> None:
        """Unlock; remove the folders ``open`` created if the run left nothing in them."""
        self._lock.release()
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:  # not empty: the run wrote something
                break

    # ---- checkpoints and signals ------------------------------------------------------------
    def save_checkpoint(self, *, epoch: int, label: str | None = None, meta: dict[str, Any] | None = None,
                        **states: Any) -> None:
        """``tinygrad_bn.checkpoint.save_checkpoint`` into ``--out``, shielded from signals; ``label`` says
        what it holds in messages (default "epoch N") and is kept in its meta."""
        label = label or f"epoch {epoch}"
        with self.critical():
            save_checkpoint(self.checkpoint, epoch=epoch, meta={**(meta or {}), "label": label}, **states)
            self.saved = label

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block that a signal does not cut short: the stop happens right after it."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._signal is not None and not self._critical:
            raise Interrupted(self._signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signal = signum
        if not self._critical:
            raise Interrupted(signum)

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM stop the training at the next safe point (raising :class:`Interrupted`)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def interrupted_message(self, signum: int) -> str:
        name = signal.Signals(signum).name
        if self.position is None and self.saved is None:
            return f"stopped by {name}; nothing was saved; run the command again to start over"
        during = f" during {self.position}" if self.position is not None else ""
        if self.saved is None:
            return (f"stopped by {name}{during}, before the first checkpoint: nothing was saved; run the "
                    "command again to start over")
        return (f"stopped by {name}{during}; the checkpoint after {self.saved} is in "
                f"{short_path(self.checkpoint)}; continue with: tinygrad-bn {self.command} "
                f"--out {short_path(self.out)} --resume")


def run_training(command: str, out: Path, *, resume: bool, force: bool, finished: tuple[str, ...],
                 body: Callable[[Run], int], diverged_hints: Callable[[DivergenceError], str] | None = None) -> int:
    """Open the run in ``out``, call ``body(run)`` under the signal handlers, and turn every way it can
    end into one line on stderr and an exit status (see the module docstring)."""
    run = Run(command, out, finished)

    def error(message: str) -> None:
        print(f"tinygrad-bn {command}: error: {message}", file=sys.stderr, flush=True)

    try:
        with run.signals():
            try:
                run.open(resume, force)
                with warnings.catch_warnings():  # overflow warnings of a diverging run: the error below says it
                    warnings.filterwarnings("ignore", "overflow|invalid value|divide by zero", RuntimeWarning)
                    return body(run)
            finally:
                run._critical += 1  # the run is ending: a signal now is only noted, not raised half-way
                run.close()
    except Interrupted as stop:
        print(f"tinygrad-bn {command}: {run.interrupted_message(stop.signum)}", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except RunError as e:
        error(str(e))
        return e.status
    except DivergenceError as e:
        at = ", ".join(f"{k} {v}" for k, v in (("epoch", e.epoch), ("step", e.step)) if v is not None)
        what = f"the {e.what} became {e.value}" if "loss" in e.what else f"{e.what} became non-finite"
        kept = (f"the last good checkpoint (after {run.saved}) is in {short_path(run.checkpoint)}"
                if run.saved is not None else "there is no checkpoint yet")
        hints = diverged_hints(e) if diverged_hints is not None else ""
        error(f"the training diverged at {at}: {what}{'; ' + hints if hints else ''}; {kept}; no model was written")
        return EXIT_FAILED
    except ValueError as e:  # a value the library refused (its message names the function and the value)
        error(str(e).splitlines()[0] if str(e) else type(e).__name__)
        return EXIT_USAGE
    except MemoryError as e:
        error(f"out of memory ({e or 'an array could not be allocated'}); use a smaller model or batch")
        return EXIT_USAGE


def refuse_batch_of_one(command: str, batch_size: int) -> int | None:
    """EXIT_USAGE after one line on stderr if BatchNorm would get batches of one image, else None."""
    if batch_size >= 2:
        return None
    print(f"tinygrad-bn {command}: error: --batch-size {batch_size}: BatchNorm needs at least 2 images per batch",
          file=sys.stderr)
    return EXIT_USAGE
