"""Commands that measure and tune the suggestions: evaluate, calibrate."""

from __future__ import annotations

from pathlib import Path

import click

from fieldnotes.cli.options import codebook_option, load_inputs, out_option, settings_option, user_errors


@click.command()
@click.argument("gold", type=click.Path(dir_okay=False, path_type=Path))
@out_option
@codebook_option
@settings_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def evaluate(gold: Path, out_dir: Path, codebook: str | None, settings_path: Path | None, as_json: bool) -> None:
    """Measure suggestions against GOLD, a CSV of labelled excerpts (id,text,codes).

    Prints precision, recall and F1 per code and micro-averaged for fieldnotes
    and two baselines: keywords only, and zero-shot similarity to the code
    definitions. Embeddings are cached in the shared embedding cache.
    """
    from fieldnotes.coding.evaluation import evaluation_json, format_evaluation
    from fieldnotes.pipeline import evaluate_alone

    with user_errors():
        settings, loaded = load_inputs(settings_path, codebook)
        result = evaluate_alone(gold, out_dir, loaded, settings)
    click.echo(evaluation_json(result) if as_json else format_evaluation(result))


@click.command()
@out_option
@codebook_option
@settings_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the calibration. Default: CODEBOOK.calibration.json beside the codebook.",
)
def calibrate(out_dir: Path, codebook: str | None, settings_path: Path | None, output: Path | None) -> None:
    """Fit how evidence is combined into scores, on the codebook's reference excerpts.

    Run it after editing a codebook's examples or reference excerpts, or after
    changing the suggesters or the model. The learned suggester is
    cross-validated so the fit never sees its own training data.
    """
    from fieldnotes.pipeline import calibrate_alone

    with user_errors():
        settings, loaded = load_inputs(settings_path, codebook)
        result = calibrate_alone(out_dir, loaded, settings, output)
    weights = ", ".join(f"{name} {weight:+.2f}" for name, weight in zip(result.features, result.weights, strict=True))
    click.echo(f"wrote {output or loaded.calibration_path}: threshold {result.threshold:.2f}; weights {weights}")
    for warning in result.fitted_on.get("warnings", []):
        click.echo(f"warning: {warning}")
