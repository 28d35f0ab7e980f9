"""Baseline palettizers for bench/run_bench.py, run on exactly the blocks palettize clusters.

Each baseline clusters the blocks of the first `subset_rows` rows one after another (as coremltools'
default num_kmeans_workers=1 and SqueezeLLM's nuq.py loop do; each library uses its own threads inside a
fit), and more blocks until its fits have taken a minimum time; the caller extrapolates the time per block
to the whole tensor. With one LUT per tensor there is
one block only: the baseline fits on a sample of rows (its time is scaled by the point count) and its LUT
then encodes the whole tensor, so the quality is compared on the whole tensor. The post-processing follows
palettize's spec semantics:
- LUT entries are rounded to the weight dtype (F16), as a Core ML LUT of an F16 weight is;
- per-channel scale: each output row is divided by its max |w| before clustering and multiplied back;
- int8 LUT: each LUT is quantized symmetrically (scale = max|entry| / 127.5, codes in [-128, 127]) and
  every point is re-assigned to the nearest quantized entry.
"""
import time
import warnings

import numpy as np

BASELINES = {
    # coremltools' fallback (quantization_utils._get_kmeans_lookup_table_and_weight)
    "sklearn-coremltools": dict(init="k-means++", n_init=1, tol=1e-2, random_state=0),
    # SqueezeLLM quantization/nuq.py (data-free: unit sample weights)
    "sklearn-squeezellm": dict(random_state=0, n_init="auto", max_iter=50),
    # faiss.Kmeans defaults with 25 iterations (random init, subsamples to 256 points per centroid)
    "faiss": dict(niter=25),
}


def available():
    """Names of the baselines whose library imports, and why the others are missing."""
    names, missing = [], {}
    for name in BASELINES:
        try:
            __import__("faiss" if name == "faiss" else "sklearn.cluster")
            names.append(name)
        except ImportError as error:
            missing[name] = f"{error} (install with scripts/bootstrap-bench)"
    return names, missing


def _fit(name, points, k):
    """Centroids [k', d] and labels for `points` [n, d] float32."""
    k = min(k, len(points))
    if name == "faiss":
        import faiss

        kmeans = faiss.Kmeans(points.shape[1], k, verbose=False, **BASELINES[name])
        kmeans.train(points)
        _, labels = kmeans.index.search(points, 1)
        return kmeans.centroids, labels[:, 0]
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on blocks with fewer distinct points than k
        kmeans = KMeans(n_clusters=k, **BASELINES[name]).fit(points)
    return kmeans.cluster_centers_.astype(np.float32), kmeans.labels_


def _nearest(points, centroids):
    """Index of the nearest centroid for every point (by midpoints in 1-D, in chunks otherwise)."""
    if points.shape[1] == 1:
        order = np.argsort(centroids[:, 0], kind="stable")
        sorted_c = centroids[order, 0].astype(np.float64)
        midpoints = (sorted_c[1:] + sorted_c[:-1]) / 2
        return order[np.searchsorted(midpoints, points[:, 0].astype(np.float64))]
    labels = np.empty(len(points), dtype=np.int64)
    c64 = centroids.astype(np.float64)
    c2 = (c64 ** 2).sum(axis=1)
    for start in range(0, len(points), 1 << 16):
        chunk = points[start:start + (1 << 16)].astype(np.float64)
        labels[start:start + len(chunk)] = np.argmin(c2[None, :] - 2 * chunk @ c64.T, axis=1)
    return labels


def _quantize_lut_int8(centroids):
    amax = float(np.abs(centroids).max())
    scale = max(np.float32(amax / 127.5), np.finfo(np.float32).eps)
    codes = np.clip(np.round(centroids / scale), -128, 127)
    return (codes * scale).astype(np.float32)


def _to_vectors(block, cluster_dim):
    """Rows [r, C] -> points [r/cd * C, cd]: vectors of cluster_dim consecutive output channels."""
    rows, cols = block.shape
    return block.reshape(rows // cluster_dim, cluster_dim, cols).transpose(0, 2, 1).reshape(-1, cluster_dim)


def _from_vectors(points, rows, cols, cluster_dim):
    return points.reshape(rows // cluster_dim, cols, cluster_dim).transpose(0, 2, 1).reshape(rows, cols)


def _encode_block(name, block, spec, fit_rows=None):
    """Reconstruction of one block [rows, C] (F16 values as float32) under `spec`; returns (recon, (fit wall
    seconds, fit CPU seconds of this process, all threads))."""
    cluster_dim = spec.get("cluster_dim", 1)
    k = 1 << spec.get("n_bits", 4)
    scale = np.ones((block.shape[0], 1), dtype=np.float32)
    if spec.get("enable_per_channel_scale"):
        scale = np.abs(block).max(axis=1, keepdims=True).astype(np.float16).astype(np.float32)
        scale[scale == 0] = 1
    points = _to_vectors(block / scale, cluster_dim)
    fit_points = points if fit_rows is None else _to_vectors((block / scale)[:fit_rows], cluster_dim)
    fit_points = np.ascontiguousarray(fit_points, dtype=np.float32)
    start, start_cpu = time.perf_counter(), time.process_time()
    centroids, labels = _fit(name, fit_points, k)
    fit_time = (time.perf_counter() - start, time.process_time() - start_cpu)
    centroids = centroids.astype(np.float16).astype(np.float32)  # the LUT holds F16 entries
    if spec.get("lut_qspec"):
        centroids = _quantize_lut_int8(centroids)
    if fit_rows is not None or spec.get("lut_qspec"):
        labels = _nearest(points, centroids)
    recon = _from_vectors(centroids[labels], block.shape[0], block.shape[1], cluster_dim) * scale
    return recon.astype(np.float16).astype(np.float32), fit_time


def run(name, weight, spec, subset_rows, sample_rows, min_seconds=0.0):
    """Times baseline `name` on `weight` (F16 [R, C]) under `spec` (palettize JSON form).

    With one LUT per block it fits the blocks of the first `subset_rows` rows (their SSE is compared with ours
    on the same rows), then further blocks in order until its fits took `min_seconds` in all: a single fit of a
    few milliseconds is too short to time reliably. Returns dict(seconds_measured, blocks_measured,
    seconds_whole and cpu_whole (extrapolated), sse, note)."""
    rows = weight.shape[0]
    granularity = spec.get("granularity", {"type": "per_tensor"})
    if granularity["type"] == "per_tensor":
        block = np.asarray(weight, dtype=np.float32)
        fit_rows = min(rows, sample_rows)
        recon, (seconds, cpu) = _encode_block(name, block, spec, fit_rows=fit_rows)
        sse = float(((recon.astype(np.float64) - block) ** 2).sum())
        scale = rows / fit_rows
        note = "" if fit_rows == rows else f"fit on {fit_rows}/{rows} rows, time x{scale:g}"
        return dict(seconds_measured=seconds, blocks_measured=1, seconds_whole=seconds * scale, cpu_whole=cpu * scale,
                    sse=sse, note=note)
    group = granularity["group_size"]
    sse, seconds, cpu, blocks = 0.0, 0.0, 0.0, 0
    for start in range(0, rows, group):
        if start >= subset_rows and seconds >= min_seconds:
            break
        block = np.asarray(weight[start:start + group], dtype=np.float32)
        recon, (fit_seconds, fit_cpu) = _encode_block(name, block, spec)
        if start < subset_rows:
            sse += float(((recon.astype(np.float64) - block) ** 2).sum())
        seconds += fit_seconds
        cpu += fit_cpu
        blocks += 1
    scale = (rows // group) / blocks
    note = f"{blocks}/{rows // group} blocks, time x{scale:g}"
    return dict(seconds_measured=seconds, blocks_measured=blocks, seconds_whole=seconds * scale, cpu_whole=cpu * scale,
                sse=sse, note=note)
