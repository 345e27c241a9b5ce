# Restoration of each benchmark's test split, one folder per sampling seed: <dir>/png/ (only the
# restored PNGs, read by FID), <dir>/float/ (unclamped outputs for LPIPS), <dir>/restore.json.
# A trained method restores from its run folder (its own network, SDE and sampler); a sampler
# variant from its method's run with its own sampler and steps; the authors' published
# checkpoints with the configured SDE and sampler.


rule restore:
    input:
        weights=lambda w: f"{run_dir(w.benchmark, w.method)}/final/net_ema.pth",
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}"),
    wildcard_constraints:
        method=RESTORED_FROM_RUNS_PATTERN,
    params:
        irsde=IRSDE,
        run=lambda w: run_dir(w.benchmark, w.method),
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        sampling=lambda w: shlex.join(pipeline_config.restored_with(config, w.method)[1]),
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.benchmark.tsv"
    shell:
        "{params.irsde} restore --run {params.run} --dataset {params.test_dir} --seed {wildcards.seed}"
        " {params.sampling} --out {output} > {log} 2>&1"


rule restore_published:
    input:
        weights=lambda w: config["published_weights"][w.benchmark],
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{PUBLISHED}/seed{{seed}}"),
    params:
        irsde=IRSDE,
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        sampler=config["sampler"],
        steps=f"--steps {config['sampler_steps']}" if config["sampler_steps"] else "",
        sde=lambda w: pipeline_config.benchmark_section(config, w.benchmark, "sde"),
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{PUBLISHED}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{PUBLISHED}-seed{{seed}}.benchmark.tsv"
    shell:
        "{params.irsde} restore --weights {input.weights} --dataset {params.test_dir} --seed {wildcards.seed}"
        " --out {output} --sampler {params.sampler} {params.steps} --schedule {params.sde[schedule]}"
        " --T {params.sde[T]} --max-sigma {params.sde[max_sigma]} --eps {params.sde[eps]} > {log} 2>&1"


rule import_user_outputs:
    # A user's precomputed restorations (`user_outputs:`), checked against the test split and
    # copied into the same layout, so that they are scored and drawn like any restored set.
    input:
        folder=lambda w: pipeline_config.user_outputs_folder(config, w.method, w.benchmark),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}"),
    wildcard_constraints:
        method=USER_OUTPUTS_PATTERN,
    params:
        test_dir=lambda w: split_dir(w.benchmark, "test"),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.log",
    script:
        "../scripts/import_user_outputs.py"
