import torch

from skpunzi._training import ActivationCache


def test_activation_cache_budget():
    widths = [4, 8, 4, 1]
    block_bytes = sum(widths) * 100 * 4
    cache = ActivationCache(widths, 1000, 100, torch.float32, "cpu", 3 * block_bytes)
    assert cache.n_cached == 3
    kept, cached = cache.chunk(2, 100)
    assert cached and [a.shape for a in kept] == [(w, 100) for w in widths]
    first_scratch, cached = cache.chunk(3, 100)
    assert not cached
    # Chunks beyond the budget share one block; the last chunk may be short.
    second_scratch, _ = cache.chunk(9, 40)
    assert second_scratch[0].data_ptr() == first_scratch[0].data_ptr()
    assert second_scratch[1].shape == (8, 40) and second_scratch[1].is_contiguous()
    # Distinct cached chunks never overlap.
    assert kept[0].data_ptr() != cache.chunk(1, 100)[0][0].data_ptr()
    assert [d.shape for d in cache.deltas(40)] == [(8, 40), (4, 40)]


def test_activation_cache_never_exceeds_a_batch():
    # A batch smaller than one chunk: one block of the batch's size.
    cache = ActivationCache([4, 8, 4, 1], 50, 65536, torch.float32, "cpu")
    assert cache.n_cached == 1
    assert cache.storage.numel() == 17 * 50
