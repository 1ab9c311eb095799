"""A dependency-free progress bar for the training phases (``verbose=1``)."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import logging
import sys
import time

__all__ = ["ProgressBar"]

logger = logging.getLogger("skpunzi")


class ProgressBar:
    """One line per phase, redrawn after every epoch with the current loss.

    ``verbose=0`` is silent, ``verbose=1`` draws the bar on standard error,
    ``verbose>=2`` logs one line per epoch to the ``skpunzi`` logger instead
    (handy in batch jobs whose logs are read later).
    """

    def __init__(self, phase, total, verbose, stream=None, width=24):
        self.phase = phase
        self.total = total
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.perf_counter()

    def update(self, epoch, loss, learning_rate, validation_loss=None):
        """Show ``epoch`` of ``total`` with its loss and learning rate."""
        if not self.verbose:
            return
        extra = "" if validation_loss is None else f" val {validation_loss:.5g}"
        text = f"loss {loss:.5g}{extra} lr {learning_rate:.3g}"
        if self.verbose >= 2:
            logger.info("%s epoch %d/%d %s", self.phase, epoch, self.total, text)
            return

        done = int(self.width * epoch / max(self.total, 1))
        bar = "#" * done + "-" * (self.width - done)
        elapsed = time.perf_counter() - self.start
        self.stream.write(
            f"\r{self.phase:>8} [{bar}] {epoch}/{self.total} {text} {elapsed:.0f}s"
        )
        self.stream.flush()

    def close(self, message=""):
        """End the line (and say why the phase stopped, if it stopped early)."""
        if self.verbose == 1:
            self.stream.write(f" {message}\n" if message else "\n")
            self.stream.flush()
        elif self.verbose >= 2 and message:
            logger.info("%s %s", self.phase, message)
