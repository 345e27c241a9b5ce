# Datasets: the offline synthetic benchmarks are built; the real ones are fetched (local rule,
# verified against checksum locks) into resources/ and prepared into <data>/<dataset>/.


rule synthetic_dataset:
    output:
        f"{PATHS['data']}/{{dataset}}/dataset.json",
    wildcard_constraints:
        dataset="synthetic-[a-z0-9]+",
    params:
        root=PATHS["data"],
        spec=lambda w: synthetic_spec(w.dataset),
    log:
        f"{PATHS['logs']}/{NAME}/data/{{dataset}}.log",
    shell:
        "{IRSDE} data synthetic {wildcards.dataset} --root {params.root} --force"
        " --seed {params.spec[seed]} --size {params.spec[size]}"
        " --train-count {params.spec[train_count]} --test-count {params.spec[test_count]} > {log} 2>&1"


rule fetch_archive:
    output:
        f"{PATHS['resources']}/{{source}}",
    wildcard_constraints:
        source=ARCHIVE_PATTERN,
    localrule: True
    params:
        dataset=lambda w: SOURCE_OWNERS[w.source],
        resources=PATHS["resources"],
        offline=config.get("offline", False),
        mirror=config.get("mirror"),
    log:
        f"{PATHS['logs']}/{NAME}/data/fetch-{{source}}.log",
    script:
        "../scripts/fetch_source.py"


rule fetch_folder:
    output:
        directory(f"{PATHS['resources']}/{{source}}"),
    wildcard_constraints:
        source=FOLDER_PATTERN,
    localrule: True
    params:
        dataset=lambda w: SOURCE_OWNERS[w.source],
        resources=PATHS["resources"],
        offline=config.get("offline", False),
        mirror=config.get("mirror"),
    log:
        f"{PATHS['logs']}/{NAME}/data/fetch-{{source}}.log",
    script:
        "../scripts/fetch_source.py"


rule prepare_dataset:
    input:
        lambda w: [] if local_source(w.dataset) else source_paths(w.dataset),
    output:
        f"{PATHS['data']}/{{dataset}}/dataset.json",
    wildcard_constraints:
        dataset=REGISTRY_PATTERN,
    params:
        root=PATHS["data"],
        resources=PATHS["resources"],
        path=lambda w: f"--path {local_source(w.dataset)}" if local_source(w.dataset) else "",
    log:
        f"{PATHS['logs']}/{NAME}/data/{{dataset}}.prepare.log",
    shell:
        "{IRSDE} data prepare {wildcards.dataset} --root {params.root} --resources {params.resources}"
        " {params.path} --offline --force > {log} 2>&1"


rule published_weights_missing:
    # Reached only when a configured published checkpoint is absent: stop with what to fetch.
    output:
        f"{PATHS['resources']}/weights/{{file}}",
    localrule: True
    log:
        f"{PATHS['logs']}/{NAME}/data/published-weights-{{file}}.log",
    run:
        raise WorkflowError(
            f"published checkpoint {output[0]} is missing. Download the IR-SDE model for this benchmark "
            "from the authors' Google Drive folder (README, 'Published checkpoints'), save it as "
            f"{output[0]}, or remove it from `published_weights:` in the config."
        )
