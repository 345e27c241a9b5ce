# Metrics of each restored folder under the benchmark's named protocol: a tidy per-image CSV.

EVALUATE_OPTIONS = " ".join(
    [
        f"--metrics {','.join(config['metrics'])}",
        "--allow-missing-weights" if config.get("allow_missing_weights", True) else "",
        f"--fid-cache {PATHS['results']}/fid-stats",
    ]
)


rule evaluate:
    input:
        restored=lambda w: restored_dir(w.benchmark, w.method, w.seed),
    output:
        f"{PATHS['results']}/metrics/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}.csv",
    params:
        gt=lambda w: f"{split_dir(w.benchmark, 'test')}/GT",
        protocol=lambda w: bench(w.benchmark)["protocol"],
    log:
        f"{PATHS['logs']}/{NAME}/metrics/{{benchmark}}/{{method}}-seed{{seed}}.log",
    shell:
        "{IRSDE} evaluate --restored {input.restored} --gt {params.gt} --protocol {params.protocol}"
        " --dataset {wildcards.benchmark} --out {output} {EVALUATE_OPTIONS} > {log} 2>&1"


rule evaluate_input:
    # The degraded input itself, scored like a method: the floor every restoration should beat.
    input:
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        f"{PATHS['results']}/metrics/{NAME}/{{benchmark}}/input/seed0.csv",
    params:
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        label=INPUT_LABEL,
        protocol=lambda w: bench(w.benchmark)["protocol"],
    log:
        f"{PATHS['logs']}/{NAME}/metrics/{{benchmark}}/input.log",
    shell:
        "{IRSDE} evaluate --restored {params.test_dir}/LQ --gt {params.test_dir}/GT --protocol {params.protocol}"
        " --method '{params.label}' --seed 0 --dataset {wildcards.benchmark} --out {output}"
        " {EVALUATE_OPTIONS} > {log} 2>&1"
