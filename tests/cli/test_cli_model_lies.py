"""predict and evaluate never print NaN: a model whose outputs overflow, or whose schema would
feed its inputs in another order, is refused with one line; so is a config of a 5000-digit
number."""

import json

import numpy as np

from gradkit import _safetensors


def _rewrite(src, out, *, tensors_edit=None, config_edit=None):
    tensors, metadata = _safetensors.load_tensors(src)
    config = json.loads(metadata["gradkit"])
    if tensors_edit:
        tensors_edit(tensors)
    if config_edit:
        config_edit(config)
    _safetensors.save_tensors(out, tensors, {"gradkit": json.dumps(config)})
    return out


def _overflow(tensors):
    last = sorted(k for k in tensors if k.endswith(".W"))[-1]
    tensors[last] = np.full_like(tensors[last], 3e38)


def test_outputs_that_overflow_are_refused_naming_the_first_row(kit, animals_model, tmp_path):
    model = _rewrite(animals_model, tmp_path / "big.safetensors", tensors_edit=_overflow)
    labelled = kit.write_animals(tmp_path / "l.csv", 6, seed=1)
    for args in (("predict", model, labelled), ("predict", model, labelled, "--out",
                                                tmp_path / "p.parquet"),
                 ("evaluate", model, labelled)):
        result = kit.run(*args)
        assert result.exit_code == 2, result.output
        assert "l.csv, data row 1 (1-based): the model's outputs are NaN or infinite" in \
            kit.error_line(result)
        assert "nan" not in result.stdout.lower()
    assert not (tmp_path / "p.parquet").exists()


def test_schema_columns_in_another_order_are_refused(kit, animals_model, tmp_path):
    def reorder(config):
        schema = config["extra"]["data_schema"]
        schema["columns"] = schema["columns"][::-1]

    model = _rewrite(animals_model, tmp_path / "r.safetensors", config_edit=reorder)
    data = kit.write_animals(tmp_path / "new.csv", 6, seed=1, with_label=False)
    result = kit.run("predict", model, data)
    assert result.exit_code == 2
    assert "not feature_names in their order" in kit.error_line(result)


def test_a_config_of_a_5000_digit_number_is_one_line(kit, tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"epochs": ' + "9" * 5000 + "}")
    result = kit.run("train", "iris", "--config", config, "--out", tmp_path / "r")
    assert result.exit_code == 2
    assert kit.error_line(result).startswith(f"error: {config}: not a config (Exceeds")
    assert not (tmp_path / "r").exists()


def test_a_space_file_of_a_huge_number_deep_nesting_or_latin_1_is_one_line(kit, tmp_path):
    cases = {"big.json": ('{"lr": ' + "9" * 5000 + "}").encode(),
             "deep.json": b"[" * 100_000 + b"]" * 100_000,
             "latin.json": '{"act\u00e9": 1}'.encode("latin-1")}
    says = {"big.json": "not a search space (Exceeds", "deep.json": "nested too deeply",
            "latin.json": "not UTF-8 text (byte 5 is b'\\xe9')"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        result = kit.run("search", "iris", "--space", tmp_path / name, "--out", tmp_path / "s",
                         "--trials", "1")
        assert result.exit_code == 2, result.output
        assert says[name] in kit.error_line(result)
    assert not (tmp_path / "s").exists()
