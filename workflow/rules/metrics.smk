# Metrics of each restored folder under the benchmark's named protocol: a tidy per-image CSV,
# keyed by the row id (a method, one of its sampler variants, the published weights, the input).

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
        weights=scoring_weights(),
    output:
        f"{PATHS['results']}/metrics/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}.csv",
    params:
        irsde=IRSDE,
        gt=lambda w: f"{split_dir(w.benchmark, 'test')}/GT",
        protocol=lambda w: config["benchmarks"][w.benchmark]["protocol"],
        options=EVALUATE_OPTIONS,
        source=lambda w: pipeline_config.scored_source_digest(config, w.method, w.benchmark),
    log:
        f"{PATHS['logs']}/{NAME}/metrics/{{benchmark}}/{{method}}-seed{{seed}}.log",
    shell:
        "{params.irsde} evaluate --restored {input.restored} --gt {params.gt} --protocol {params.protocol}"
        " --method {wildcards.method} --dataset {wildcards.benchmark} --out {output} {params.options} > {log} 2>&1"


rule evaluate_input:
    # The degraded input itself, scored like a method: the floor every restoration should beat.
    input:
        test=lambda w: dataset_marker(w.benchmark, "test"),
        weights=scoring_weights(),
    output:
        f"{PATHS['results']}/metrics/{NAME}/{{benchmark}}/{INPUT.id}/seed0.csv",
    params:
        irsde=IRSDE,
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        method=INPUT.id,
        protocol=lambda w: config["benchmarks"][w.benchmark]["protocol"],
        options=EVALUATE_OPTIONS,
    log:
        f"{PATHS['logs']}/{NAME}/metrics/{{benchmark}}/{INPUT.id}.log",
    shell:
        "{params.irsde} evaluate --restored {params.test_dir}/LQ --gt {params.test_dir}/GT --protocol {params.protocol}"
        " --method {params.method} --seed 0 --dataset {wildcards.benchmark} --out {output} {params.options} > {log} 2>&1"


rule evaluate_protocol_variant:
    # A row (or the degraded input) scored under another protocol (PSNR/SSIM only), for the
    # benchmark's protocol-sensitivity table (`protocol_variants:`).
    input:
        marker=lambda w: dataset_marker(w.benchmark, "test"),
        restored=lambda w: [] if w.method == INPUT.id else restored_dir(w.benchmark, w.method, w.seed),
    output:
        f"{PATHS['results']}/metrics/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}-{{protocol}}.csv",
    wildcard_constraints:
        method=alternatives_regex([INPUT.id, *METHOD_IDS, *VARIANTS, *config["user_outputs"], *RELEASED]),
    params:
        irsde=IRSDE,
        scored=lambda w: scored_folder(w.benchmark, w.method, w.seed),
        gt=lambda w: f"{split_dir(w.benchmark, 'test')}/GT",
    log:
        f"{PATHS['logs']}/{NAME}/metrics/{{benchmark}}/{{method}}-seed{{seed}}-{{protocol}}.log",
    shell:
        "{params.irsde} evaluate --restored {params.scored} --gt {params.gt} --protocol {wildcards.protocol}"
        " --metrics psnr,ssim --method {wildcards.method} --seed {wildcards.seed} --dataset {wildcards.benchmark}"
        " --out {output} > {log} 2>&1"
