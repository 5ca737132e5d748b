"""Time training steps of both encoders with 1 and 2 torch threads (picks ``--threads``).

Usage::

    python benchmarks/bench_threads.py [--batches 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from encoders import ContentConfig, LSTMConfig, TimeRatingAwareContentModel, TimeRatingAwareLSTM
from encoders.features import make_segments, segment_batch, step_features
from encoders.hybrid import CONTENT_TRAIN, LSTM_TRAIN
from movierec_env.data import load_dataset


def main() -> None:
    """Print seconds per training batch for each encoder and thread count."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    data = load_dataset()
    feats = step_features(data)
    seg = make_segments(data.offsets[:-1], data.train_end, LSTM_TRAIN.window)
    train_end_of = np.repeat(data.train_end, data.lengths)
    for name, cfg in (("lstm", LSTM_TRAIN), ("content", CONTENT_TRAIN)):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            model: TimeRatingAwareLSTM | TimeRatingAwareContentModel
            if name == "lstm":
                model = TimeRatingAwareLSTM(LSTMConfig(n_items=data.n_items))
            else:
                model = TimeRatingAwareContentModel(
                    ContentConfig(n_items=data.n_items, n_genres=len(data.genre_names)),
                    data.item_genres,
                )
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
            rng = np.random.default_rng(0)
            t0 = time.perf_counter()
            for _ in range(args.batches):
                idx = rng.choice(len(seg), cfg.batch_size, replace=False)
                it, ft, lens, pos = segment_batch(seg, idx, data.items, feats)
                safe = np.clip(pos, 0, None)
                mask = (pos >= seg.emit_from[idx][:, None]) & (pos >= 0)
                mask &= safe + 1 < train_end_of[safe]
                z = model.step_embeddings(
                    torch.from_numpy(it),
                    torch.from_numpy(ft),
                    torch.from_numpy(lens),
                    torch.from_numpy(mask),
                )
                loss = F.cross_entropy(
                    model.logits(z), torch.from_numpy(data.items[safe[mask] + 1])
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
            dt = (time.perf_counter() - t0) / args.batches
            print(f"{name:8s} threads={threads}: {dt:.3f} s/batch (batch {cfg.batch_size})")


if __name__ == "__main__":
    main()
