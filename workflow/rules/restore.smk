# Restoration of each benchmark's test split, one folder per sampling seed: <dir>/png/ (only the
# restored PNGs, read by FID), <dir>/float/ (unclamped outputs for LPIPS), <dir>/restore.json.
# A trained method restores from its run folder (its own network, SDE and sampler); a sampler
# variant from its method's run with its own sampler and steps; a released checkpoint through its
# method (the configured sampler and SDE for one that samples).


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


rule restore_released:
    # A released checkpoint (`released:`), through its method with its options (the file is
    # fetched and verified by rule fetch_checkpoint first, so this job needs no network).
    input:
        weights=lambda w: released_weights(w.method),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}"),
    wildcard_constraints:
        method=RELEASED_PATTERN,
    params:
        irsde=IRSDE,
        resources=lambda w, input: Path(input.weights).parent.parent,
        test_dir=lambda w: split_dir(w.benchmark, "test"),
        options=lambda w: shlex.join(pipeline_config.released_restore_options(config, w.benchmark, w.method)),
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.log",
    benchmark:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.benchmark.tsv"
    shell:
        "{params.irsde} restore --checkpoint {wildcards.method} --resources {params.resources} --offline"
        " --dataset {params.test_dir} --seed {wildcards.seed} {params.options} --out {output} > {log} 2>&1"


rule import_user_outputs:
    # A user's precomputed restorations (`user_outputs:`), checked against the test split and
    # copied into the same layout, so that they are scored and drawn like any restored set. The
    # inputs are the images themselves and `digest` their contents: a replaced image reruns it.
    input:
        images=lambda w: pipeline_config.user_outputs_inputs(config, w.method, w.benchmark),
        test=lambda w: dataset_marker(w.benchmark, "test"),
    output:
        directory(f"{PATHS['results']}/restored/{NAME}/{{benchmark}}/{{method}}/seed{{seed}}"),
    wildcard_constraints:
        method=USER_OUTPUTS_PATTERN,
    params:
        folder=lambda w: pipeline_config.user_outputs_folder(config, w.method, w.benchmark),
        digest=lambda w: pipeline_config.user_outputs_digest(config, w.method, w.benchmark),
        test_dir=lambda w: split_dir(w.benchmark, "test"),
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/restore/{{benchmark}}/{{method}}-seed{{seed}}.log",
    script:
        "../scripts/import_user_outputs.py"
