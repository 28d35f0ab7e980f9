"""The benchmark driver behind scripts/bench: kernels, baselines, whole-CLI runs, report.

Steps (each can be skipped, see --help): generate the seeded workloads (bench/workloads.py); run the Google
Benchmark kernels (palettize_bench) on the 4096x4096 tensor; run the baselines (bench/baselines.py) on the
same blocks; time the CLI as whole processes on the tensor, on a Llama-2-7B-shaped checkpoint and on the
real models of scripts/fetch-models; check that 1 and 2 threads give byte-identical files; write
docs/PERFORMANCE.md (bench/report.py) and print the targets as PASS/FAIL lines.
"""
import argparse
import datetime
import filecmp
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import baselines  # noqa: E402
import processes  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402

VARIANT_BASELINES = ["sklearn-coremltools", "faiss"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_ROW_4 = '{"n_bits":4,"granularity":{"type":"per_grouped_channel","axis":0,"group_size":1}}'
CLI_SPECS = {  # name -> CLI spec arguments, for the 4096x4096 targets
    "n4/tensor": ["--spec", '{"n_bits":4}'],
    "n4/g16 (--preset w4)": ["--preset", "w4"],
    "n4/row": ["--spec", PER_ROW_4],
}
DETERMINISM_SPECS = dict(CLI_SPECS, **{
    "n8/row": ["--spec", '{"n_bits":8,"granularity":{"type":"per_grouped_channel","axis":0,"group_size":1}}'],
    "n4/g16/cd4": ["--spec", '{"n_bits":4,"cluster_dim":4,"granularity":'
                             '{"type":"per_grouped_channel","axis":0,"group_size":16}}'],
    "n4/g16/scale+int8lut": ["--spec", '{"n_bits":4,"enable_per_channel_scale":true,"lut_qspec":{"dtype":"int8"},'
                                       '"granularity":{"type":"per_grouped_channel","axis":0,"group_size":16}}'],
})


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--work-dir", help="workloads and outputs (default BUILD/bench-work)")
    parser.add_argument("--layers", type=int, default=1, help="layers of the Llama-2-7B-shaped checkpoint (32 = 7B)")
    parser.add_argument("--baseline-rows", type=int, default=16,
                        help="rows whose blocks each baseline clusters (rounded up to whole blocks)")
    parser.add_argument("--baseline-seconds", type=float, default=2.0,
                        help="a baseline with one LUT per block goes on fitting blocks past --baseline-rows until "
                             "its fits have taken this long (one fit can take milliseconds: too short to time)")
    parser.add_argument("--sample-rows", type=int, default=16,
                        help="rows a baseline fits on for one LUT per tensor (its LUT then encodes every row)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per CLI measurement (median)")
    parser.add_argument("--kernel-repetitions", type=int, default=3,
                        help="repetitions of each in-process benchmark (median): one noisy neighbour during a "
                             "single measurement moved n4/row by 12 %%")
    parser.add_argument("--quick", action="store_true",
                        help="4-bit per-tensor, g=16 and per-row only, no real models: a smoke run")
    parser.add_argument("--full", action="store_true",
                        help="also one vector LUT per tensor (cluster_dim 2, 4): minutes each on 2 cores")
    parser.add_argument("--specs", metavar="REGEX",
                        help="only the 4096x4096 specs whose name matches, e.g. 'n4/.*|n8/(tensor|row)'")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--reuse-baselines", metavar="JSON",
                        help="take the baselines' results from an earlier measurements.json instead of running them "
                             "(same workload and specs; the ratios are recomputed against this run's times)")
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-profile", action="store_true", help="no perf profile of the 4096x4096 CLI runs")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"),
                        help="report path; '-' prints it only")
    parser.add_argument("--command", default="scripts/bench", help="the command line shown in the report")
    parser.add_argument("--revision", help="the revision shown in the report (default: git HEAD of this tree)")
    parser.add_argument("--render", metavar="JSON", help="only re-render the report from a saved measurements.json")
    return parser.parse_args(argv)


def run_kernels(args, tensor_path, json_path):
    command = [os.path.join(args.build_dir, "palettize_bench"), f"--workload={tensor_path}",
               f"--baseline_rows={args.baseline_rows}", f"--benchmark_out={json_path}",
               "--benchmark_out_format=json"]
    if args.kernel_repetitions > 1:
        command += [f"--benchmark_repetitions={args.kernel_repetitions}", "--benchmark_report_aggregates_only=true"]
    if args.specs:
        command.append(f"--benchmark_filter=^(palettize/({args.specs})/min|decode|pack|lagrangian|bandwidth)")
    elif args.quick:
        command.append("--benchmark_filter=^(palettize/n4/(tensor|g16|row)/min|decode|pack|lagrangian|bandwidth)")
    elif not args.full:
        command.append("--benchmark_filter=-palettize/n4/tensor/cd")
    log("kernels: " + " ".join(command))
    subprocess.run(command, check=True, stdout=sys.stderr)
    with open(json_path) as f:
        return kernels_by_name(json.load(f)["benchmarks"])


def kernels_by_name(results):
    """Google Benchmark's JSON entries by benchmark name; with repetitions, the median stands for each (its
    counters are those of the runs)."""
    kernels = {}
    for entry in results:
        if entry.get("run_type") == "aggregate" and entry.get("aggregate_name") != "median":
            continue
        kernels[entry["name"].split("/real_time")[0].split("/min_time")[0]] = entry
    return kernels


def seconds_of(entry):
    return entry["real_time"] * report.UNIT_SECONDS[entry["time_unit"]]


def cpu_seconds_of(entry):
    """CPU time of the whole process (all threads) per iteration: MeasureProcessCPUTime."""
    return entry["cpu_time"] * report.UNIT_SECONDS[entry["time_unit"]]


def run_baselines(args, kernels, tensor_path):
    names, missing = baselines.available()
    weight = workloads.read_tensor(tensor_path, "weight")
    rows = []
    for name, entry in kernels.items():
        if not name.startswith("palettize/"):
            continue
        spec = json.loads(entry["label"])
        row = dict(config=name[len("palettize/"):], ours_seconds=seconds_of(entry), ours_cpu=cpu_seconds_of(entry),
                   ours_sse=entry["sse"],
                   ours_sse_subset=entry["sse_subset"], luts=int(entry["luts"]), baselines={})
        for baseline in names:
            if baseline not in VARIANT_BASELINES and not report.is_plain(row["config"]):
                continue  # keeps the default run short: variants get coremltools' settings and faiss
            log(f"baseline {baseline} on {row['config']}")
            result = baselines.run(baseline, weight, spec, int(entry["subset_rows"]), args.sample_rows,
                                   args.baseline_seconds)
            ours_sse = row["ours_sse"] if spec.get("granularity", {}).get("type", "per_tensor") == "per_tensor" \
                else row["ours_sse_subset"]
            result["sse_ratio"] = result["sse"] / ours_sse if ours_sse > 0 else float("inf")
            result["time_ratio"] = result["seconds_whole"] / row["ours_seconds"]
            result["cpu_ratio"] = result["cpu_whole"] / row["ours_cpu"] if row["ours_cpu"] > 0 else float("inf")
            row["baselines"][baseline] = result
        rows.append(row)
    return rows, missing


def reuse_baselines(path, kernels):
    """This run's rows with the baseline results of an earlier run: ratios recomputed against our new times."""
    with open(path) as f:
        earlier = json.load(f)
    old_rows = {row["config"]: row for row in earlier["comparisons"]}
    rows = []
    for name, entry in kernels.items():
        if not name.startswith("palettize/"):
            continue
        config = name[len("palettize/"):]
        spec = json.loads(entry["label"])
        row = dict(config=config, ours_seconds=seconds_of(entry), ours_cpu=cpu_seconds_of(entry),
                   ours_sse=entry["sse"], ours_sse_subset=entry["sse_subset"], luts=int(entry["luts"]), baselines={})
        per_tensor = spec.get("granularity", {}).get("type", "per_tensor") == "per_tensor"
        ours_sse = row["ours_sse"] if per_tensor else row["ours_sse_subset"]
        for baseline, result in old_rows.get(config, {}).get("baselines", {}).items():
            result = dict(result)
            result["sse_ratio"] = result["sse"] / ours_sse if ours_sse > 0 else float("inf")
            result["time_ratio"] = result["seconds_whole"] / row["ours_seconds"]
            result["cpu_ratio"] = result["cpu_whole"] / row["ours_cpu"] if row["ours_cpu"] > 0 else float("inf")
            row["baselines"][baseline] = result
        rows.append(row)
    source = dict(path=path, date=earlier.get("date"), revision=earlier.get("revision"))
    return rows, earlier.get("missing_baselines", {}), source


def cli(args):
    return os.path.join(args.build_dir, "palettize")


def compress_command(args, source, target, spec_args, threads=None):
    command = [cli(args), "compress", source, target, *spec_args, "--quiet", "--force"]
    return command + (["--threads", str(threads)] if threads is not None else [])


def run_cli_tensor(args, tensor_path, work):
    results = {}
    for name, spec_args in CLI_SPECS.items():
        target = os.path.join(work, "cli_out.safetensors")
        run = processes.median_run(compress_command(args, tensor_path, target, spec_args), args.repeats)
        results[name] = dict(run, out_bytes=os.path.getsize(target))
        log(f"CLI 4096x4096 {name}: {run['seconds'] * 1e3:.1f} ms (CPU {run['cpu'] * 1e3:.0f} ms), "
            f"{run['rss'] / 2**20:.0f} MiB")
    floor_bytes = results["n4/tensor"]["out_bytes"]
    floor_command = [os.path.join(args.build_dir, "palettize_bandwidth_floor"), tensor_path,
                     os.path.join(work, "floor_out.bin"), str(floor_bytes)]
    results["bandwidth floor"] = dict(processes.median_run(floor_command, args.repeats), out_bytes=floor_bytes)
    return results


def profile_cli(args, tensor_path, work):
    profiles = {}
    for name, spec_args in CLI_SPECS.items():
        target = os.path.join(work, "profile_out.safetensors")
        profiles[name] = processes.profile(compress_command(args, tensor_path, target, spec_args),
                                           os.path.join(work, "perf.data"))
    return profiles


def check_threads(args, tensor_path, work):
    """{spec name: True when --threads 1 and --threads 2 wrote identical files}."""
    identical = {}
    specs = DETERMINISM_SPECS
    if args.quick or args.specs:  # the vector and 8-bit per-row runs take minutes on a busy machine
        specs = dict(CLI_SPECS, **{"n4/g16/scale+int8lut": DETERMINISM_SPECS["n4/g16/scale+int8lut"]})
    for name, spec_args in specs.items():
        outputs = []
        for threads in (1, 2):
            target = os.path.join(work, f"threads{threads}.safetensors")
            processes.run_measured(compress_command(args, tensor_path, target, spec_args, threads))
            outputs.append(target)
        identical[name] = filecmp.cmp(*outputs, shallow=False)
        log(f"threads 1 vs 2, {name}: {'identical' if identical[name] else 'DIFFERENT'}")
    return identical


def run_checkpoint(args, source, params, spec_args, work):
    target = os.path.join(work, "checkpoint_out.safetensors")
    run = processes.run_measured(compress_command(args, source, target, spec_args))
    out_bytes = os.path.getsize(target)
    os.remove(target)
    return dict(run, params=params, s_per_billion=run["seconds"] / (params / 1e9),
                in_bytes=os.path.getsize(source), out_bytes=out_bytes)


def run_llama(args, work):
    log(f"generating the Llama-2-7B-shaped checkpoint, {args.layers} layer(s)")
    path, params = workloads.llama(work, args.layers)
    results = {}
    for name, spec_args in {"n4/g16 (--preset w4)": ["--preset", "w4"], "n4/row": ["--spec", PER_ROW_4]}.items():
        log(f"CLI llama x{args.layers} {name}")
        results[name] = run_checkpoint(args, path, params, spec_args, work)
    return dict(layers=args.layers, params=params, runs=results)


def run_models(args, work):
    script = os.path.join(ROOT, "scripts", "fetch-models")
    if not os.path.exists(script):
        return dict(note="scripts/fetch-models is missing: real models skipped", runs={})
    try:
        listing = subprocess.run([sys.executable, script, "--only", "isnet_fp16", "--only", "ppocr_rec"],
                                 capture_output=True, text=True, check=True).stdout
    except subprocess.CalledProcessError as error:
        return dict(note=f"scripts/fetch-models failed, real models skipped: {error.stderr.strip()[-300:]}", runs={})
    runs = {}
    for line in listing.splitlines():
        name, _, onnx_path = line.partition("\t")
        if not onnx_path.endswith(".onnx"):
            continue
        log(f"model {name}: converting {onnx_path}")
        source, params = workloads.onnx_to_safetensors(onnx_path, work)
        for spec_name, spec_args in {"n4/g16 (--preset w4)": ["--preset", "w4"], "n4/row": ["--spec", PER_ROW_4],
                                     "n8/tensor (--preset w8)": ["--preset", "w8"]}.items():
            runs[f"{name} | {spec_name}"] = run_checkpoint(args, source, params, spec_args, work)
    return dict(note="", runs=runs)


def main(argv):
    args = parse_args(argv)
    work = args.work_dir or os.path.join(args.build_dir, "bench-work")
    os.makedirs(work, exist_ok=True)
    if args.render:
        with open(args.render) as f:
            return finish(args, json.load(f))
    data = measure(args, work)
    with open(os.path.join(work, "measurements.json"), "w") as f:
        json.dump(data, f, indent=1)
    return finish(args, data)


def measure(args, work):
    started = time.time()
    data = dict(machine=processes.machine(), date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                revision=args.revision or processes.git_revision(ROOT), load_before=processes.load_average(), command=args.command,
                args=vars(args), blas=processes.blas_info())
    log("workload: 4096x4096 F16 0.02*t(5)")
    tensor_path = workloads.tensor4096(work)
    data["kernels"] = run_kernels(args, tensor_path, os.path.join(work, "kernels.json"))
    if args.skip_baselines:
        data["comparisons"], data["missing_baselines"] = [], {"all": "skipped (--skip-baselines)"}
    elif args.reuse_baselines:
        data["comparisons"], data["missing_baselines"], data["baselines_reused"] = \
            reuse_baselines(args.reuse_baselines, data["kernels"])
    else:
        data["comparisons"], data["missing_baselines"] = run_baselines(args, data["kernels"], tensor_path)
    data["cli_tensor"] = run_cli_tensor(args, tensor_path, work)
    data["profiles"] = {} if args.skip_profile else profile_cli(args, tensor_path, work)
    data["threads"] = check_threads(args, tensor_path, work)
    data["llama"] = None if args.skip_llama else run_llama(args, work)
    data["models"] = dict(note="skipped (--skip-models or --quick)", runs={}) \
        if args.skip_models or args.quick else run_models(args, work)
    data["load_after"] = processes.load_average()
    data["elapsed"] = time.time() - started
    return data


def finish(args, data):
    text, verdicts = report.render(data)
    if args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
        log(f"wrote {args.output}")
    else:
        print(text)
    for line in verdicts:
        print(line)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main(sys.argv[1:]))
