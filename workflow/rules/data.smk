# Datasets: every one is built by `irsde data prepare` (a synthetic stand-in from its recipe, a
# registered dataset from its sources); sources are fetched (local rules, verified against
# checksum locks) into resources/ first, and so are released checkpoints and the LPIPS/FID
# weights. Every download is a local rule: on a cluster it runs on the login node (`snakemake
# fetch` runs them all), never in a compute job.


rule fetch_archive:
    output:
        f"{PATHS['resources']}/{{source}}",
    wildcard_constraints:
        source=ARCHIVE_PATTERN,
    localrule: True
    params:
        dataset=lambda w: SOURCE_OWNERS[w.source],
        resources=lambda w, output: Path(output[0]).parent,
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
        resources=lambda w, output: Path(output[0]).parent,
        offline=config.get("offline", False),
        mirror=config.get("mirror"),
    log:
        f"{PATHS['logs']}/{NAME}/data/fetch-{{source}}.log",
    script:
        "../scripts/fetch_source.py"


rule prepare_dataset:
    # {prepared}: a registered dataset's name, or synthetic/<recipe key>/<name> for a stand-in
    # (built from the config's recipe, whose key names the folder).
    input:
        lambda w: prepare_inputs(prepared_dataset(w.prepared)),
    output:
        f"{PATHS['data']}/{{prepared}}/dataset.json",
    wildcard_constraints:
        prepared=PREPARED_PATTERN,
    params:
        irsde=IRSDE,
        dataset=lambda w: prepared_dataset(w.prepared),
        root=lambda w, output: Path(output[0]).parent.parent,
        resources=PATHS["resources"],
        options=lambda w: shlex.join(pipeline_config.prepare_options(config, prepared_dataset(w.prepared))),
    log:
        f"{PATHS['logs']}/{NAME}/data/{{prepared}}.prepare.log",
    shell:
        "{params.irsde} data prepare {params.dataset} --root {params.root} --resources {params.resources}"
        " {params.options} --offline --force > {log} 2>&1"


rule fetch_metric_weights:
    # LPIPS/FID weights into torch.hub's folder, from the mirrors first, then their publisher.
    output:
        f"{METRIC_WEIGHTS_DIR}/{{weight}}",
    wildcard_constraints:
        weight=alternatives_regex(weight.filename for weight in WEIGHT_FILES),
    localrule: True
    params:
        offline=config.get("offline", False),
        mirror=config.get("mirror"),
    log:
        f"{PATHS['logs']}/{NAME}/data/fetch-{{weight}}.log",
    script:
        "../scripts/fetch_metric_weights.py"


rule fetch_checkpoint:
    # A released checkpoint (`released:`) into resources/weights/, verified by git blob id and
    # sha256 (browser-only ones join a table only once the user has placed them).
    output:
        f"{PATHS['resources']}/weights/{{file}}",
    wildcard_constraints:
        file=WEIGHT_FILE_PATTERN,
    localrule: True
    params:
        irsde=IRSDE,
        checkpoint=lambda w: next(row for row in RELEASED if CHECKPOINTS[row].file == w.file),
        resources=lambda w, output: Path(output[0]).parent.parent,
        options=shlex.join(
            (["--offline"] if config.get("offline", False) else [])
            + (["--mirror", config["mirror"]] if config.get("mirror") else [])
        ),
    log:
        f"{PATHS['logs']}/{NAME}/data/fetch-weights-{{file}}.log",
    shell:
        "{params.irsde} weights fetch {params.checkpoint} --resources {params.resources} {params.options} > {log} 2>&1"
