"""Kill-at-random: a child process trains with fit(checkpoint_dir=...), one checkpoint per
(tiny) epoch, and is SIGKILLed at seeded random moments, some of them inside a save (the
child reports when it is inside atomic_write's fsync, which it slows down to widen the
window). After each kill the checkpoint folder must hold a last.ckpt that loads and passes
its SHA-256 check (or none yet), never an older epoch than before, and anything else in it
must be a temporary file that resume ignores; the next child resumes from it. The final
parameters must equal an uninterrupted run's, bit for bit."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn.train import CHECKPOINT_NAME, CheckpointError, load_checkpoint

EPOCHS = 60
KILLS = 10
SAVE_DELAY_S = 0.1  # the child's extra time inside each save (between writing the temp file and replacing)

# The child: trains EPOCHS epochs (resuming when a checkpoint exists), prints "save-start"
# when a save begins, "saving" when its bytes are written and fsync'd but not yet renamed
# into place, and "done" at the end.
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import fastcnn
    from fastcnn import nn, optim
    from fastcnn.data import DataLoader, TensorDataset
    from fastcnn.train import fit

    def build():
        fastcnn.manual_seed(5)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        # A large buffer makes each checkpoint a few MB, so a save takes a while.
        model.register_buffer("ballast", fastcnn.tensor(np.arange(1 << 20, dtype=np.float32)))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((48, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 3, 48)
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=7)
        return model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9), loader

    if __name__ == "__main__":
        ckpt_dir, epochs, delay, final = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
        real_fsync = os.fsync
        def slow_fsync(fd):
            real_fsync(fd)
            print("saving", flush=True)
            time.sleep(delay)
        os.fsync = slow_fsync
        real_save = fastcnn.train.save_checkpoint
        def announced_save(path, state):
            print("save-start", flush=True)
            real_save(path, state)
        fastcnn.train.save_checkpoint = announced_save
        model, opt, loader = build()
        print("ready", flush=True)
        fastcnn.manual_seed(9)
        has_ckpt = os.path.exists(os.path.join(ckpt_dir, "last.ckpt"))
        fit(model, loader, epochs, opt, nn.CrossEntropyLoss(), checkpoint_dir=ckpt_dir,
            resume=True if has_ckpt else None, progress=False)
        np.savez(final, **{k: v.numpy() for k, v in model.state_dict().items()})
        print("done", flush=True)
""")


class Child:
    """The child process, with its stdout lines arriving on a queue."""

    def __init__(self, script, ckpt_dir, epochs, delay):
        env = dict(os.environ, FASTCNN_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        final = os.path.join(os.path.dirname(script), "final.npz")
        self.proc = subprocess.Popen([sys.executable, str(script), str(ckpt_dir), str(epochs), str(delay), final],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, word, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                self.proc.wait()
                raise AssertionError(f"child exited ({self.proc.returncode}) before {word!r}: "
                                     f"{self.proc.stderr.read()}")
            if line == word:
                return

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL


def _check_folder(ckpt_dir, previous_epoch):
    """The epoch of the checkpoint the folder holds (0 if none) after a kill."""
    names = sorted(os.listdir(ckpt_dir))
    others = [n for n in names if n != CHECKPOINT_NAME]
    # Anything else is an unfinished temporary file of atomic_write, never a checkpoint name.
    assert all(n.startswith("." + CHECKPOINT_NAME + ".") and n.endswith(".tmp") for n in others), names
    for name in others:  # a temp file is either complete or rejected: never garbage loaded as state
        try:
            load_checkpoint(os.path.join(ckpt_dir, name))
        except CheckpointError:
            pass
    if CHECKPOINT_NAME not in names:
        assert previous_epoch == 0, "the checkpoint vanished"
        return 0
    state = load_checkpoint(ckpt_dir)  # the folder resolves to last.ckpt; checks the SHA-256
    epoch = int(state["epoch"])
    assert previous_epoch <= epoch <= EPOCHS
    assert len(state["history"]["epoch"]) == epoch
    assert state["model"]["ballast"].shape == (1 << 20,)
    return epoch


def _uninterrupted(script_dir):
    """The final parameters of a run never killed, in this process (one thread, as the child)."""
    sys.path.insert(0, script_dir)
    try:
        import kill_child
    finally:
        sys.path.remove(script_dir)
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(1)
    try:
        model, opt, loader = kill_child.build()
        fastcnn.manual_seed(9)
        fastcnn.train.fit(model, loader, EPOCHS, opt, fastcnn.nn.CrossEntropyLoss(), progress=False)
    finally:
        fastcnn.set_num_threads(previous)
        sys.modules.pop("kill_child", None)
    return {k: np.array(v.numpy()) for k, v in model.state_dict().items()}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_at_random_moments_never_loses_the_checkpoint(tmp_path):
    script = tmp_path / "kill_child.py"
    script.write_text(CHILD)
    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    rng = np.random.default_rng(zlib.crc32(b"checkpoint-kill"))
    epoch, during_save, temp_files_seen = 0, 0, 0
    for kill in range(KILLS):
        child = Child(script, ckpt_dir, EPOCHS, SAVE_DELAY_S)
        try:
            child.wait_for("ready")
            if kill % 3 == 0:
                # Inside a save: after the temp file's fsync, before os.replace.
                for _ in range(int(rng.integers(1, 3))):
                    child.wait_for("saving")
                time.sleep(rng.uniform(0.0, SAVE_DELAY_S * 0.5))
                during_save += 1
            elif kill % 3 == 1:
                # Somewhere in a save: encoding, hashing, writing, fsync or the wait after it.
                child.wait_for("save-start")
                time.sleep(rng.uniform(0.0, SAVE_DELAY_S * 1.5))
            else:
                # Anywhere: mid-epoch, mid-write, between saves.
                time.sleep(rng.uniform(0.05, 0.4))
        finally:
            child.kill()
        new_epoch = _check_folder(ckpt_dir, epoch)
        temp_files_seen += sum(n.endswith(".tmp") for n in os.listdir(ckpt_dir))
        epoch = new_epoch
        if epoch == EPOCHS:
            break
    assert during_save >= KILLS // 3
    assert temp_files_seen >= 1  # some kill did land between writing and renaming
    assert epoch < EPOCHS, "the run finished before the kills were spread over it: raise EPOCHS"

    child = Child(script, ckpt_dir, EPOCHS, 0.0)  # the last resume runs to the end
    try:
        child.wait_for("done", timeout=120)
    finally:
        child.proc.wait(timeout=30)
    assert _check_folder(ckpt_dir, epoch) == EPOCHS
    with np.load(tmp_path / "final.npz") as final:
        resumed = {k: final[k] for k in final.files}
    straight = _uninterrupted(str(tmp_path))
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert resumed[key].tobytes() == straight[key].tobytes(), f"{key}: the killed-and-resumed run differs"
