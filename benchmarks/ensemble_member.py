"""Write one network of an ensemble model file as a model file of its own, to build other ensembles from it.

An ensemble keeps each member's weights as stored and its training record (less its structure list), so a member
whose own file is gone can be recovered: the recovered file predicts exactly what the member predicted. Its
structure list is the ensemble's (every structure any member saw): a superset of the member's own, so a benchmark's
leakage check of the recovered file stays as strict as that of the ensemble.

    python benchmarks/ensemble_member.py specvae/pretrained/positive.specvae 0 -o feedforward_merged_positive.specvae
"""

from __future__ import annotations

import argparse

from safetensors.torch import load_file

from specvae.architecture import ArchitectureConfig
from specvae.model_file import ModelMetadata, read_metadata, write_model_tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ensemble")
    parser.add_argument("index", type=int, help="the member's position, from 0 (as `specvae info` lists them, from 1)")
    parser.add_argument("-o", "--output", required=True)
    arguments = parser.parse_args()
    ensemble = read_metadata(arguments.ensemble)  # verifies the file's checksums
    members = ensemble.architecture.members or []
    if not 0 <= arguments.index < len(members):
        parser.error(f"{arguments.ensemble} has {len(members)} members; index {arguments.index} is not one of them")
    prefix = f"members.{arguments.index}."
    tensors = {
        name[len(prefix) :]: tensor
        for name, tensor in load_file(arguments.ensemble, device="cpu").items()
        if name.startswith(prefix)
    }
    summary = ensemble.training["members"][arguments.index]
    training = {
        **summary["training"],
        "structures_inchikey14": sorted(ensemble.training_structures),
        "recovered_from": f"member {arguments.index} ({summary['file']}) of {arguments.ensemble}",
    }
    metadata = ModelMetadata(
        architecture=ArchitectureConfig.from_dict(members[arguments.index]),
        binning=ensemble.binning,
        fingerprint=ensemble.fingerprint,
        ion_mode=ensemble.ion_mode,
        training=training,
    )
    write_model_tensors(arguments.output, tensors, metadata.to_json())
    print(f"{summary['file']} ({summary['fusion']}) -> {arguments.output}")


if __name__ == "__main__":
    main()
