from pathlib import Path

import pytest

from fieldnotes.errors import SettingsError
from fieldnotes.resources import default_settings_path
from fieldnotes.settings import load_settings


def test_defaults_load_and_name_the_three_sites(settings):
    assert [site.id for site in settings.site] == ["nagoya", "osaka", "niihama"]
    assert "名古屋" in settings.site[0].aliases
    assert default_settings_path().name == "default.toml"


def test_digest_is_stable_and_changes_with_settings(settings):
    assert settings.digest() == load_settings().digest()
    changed = settings.model_copy(update={"segment": settings.segment.model_copy(update={"max_passage_chars": 900})})
    assert changed.digest() != settings.digest()
    assert changed.digest("repair") == settings.digest("repair")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, "[segment]\nmin_passage_chars = 10\nmax_pasage_chars = 900\n")
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    message = str(error.value)
    assert f"{path}:3" in message
    assert "unknown key 'segment.max_pasage_chars'" in message


def test_wrong_type_names_the_key_and_what_is_expected(tmp_path):
    path = write(tmp_path, '[repair]\nmin_word_zipf = "high"\n')
    with pytest.raises(SettingsError, match=r"my.toml:2: key 'repair.min_word_zipf': Input should be a valid number"):
        load_settings(path)


def test_a_value_of_either_kind_gets_one_line_at_its_key(tmp_path):
    path = write(tmp_path, '[coding]\nthreshold = "0.5"\n')
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    lines = str(error.value).splitlines()[1:]
    assert lines == [
        f"  {path}:2: key 'coding.threshold': Input should be a valid number; or Input should be 'calibrated'"
    ]


def test_duplicate_and_reserved_site_ids_are_refused(tmp_path):
    twice = '[[site]]\nid = "osaka"\nlabel = "A"\n[[site]]\nid = "osaka"\nlabel = "B"\n'
    with pytest.raises(SettingsError, match="site id 'osaka' is defined twice"):
        load_settings(write(tmp_path, twice))
    reserved = '[[site]]\nid = "general"\nlabel = "G"\n'
    with pytest.raises(SettingsError, match=r"site\[0\]\.id.*reserved"):
        load_settings(write(tmp_path, reserved))


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[segment\n"))
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "nope.toml")


def test_values_are_not_coerced_and_paths_stay_inside_the_corpus(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[ingest]\nmax_file_mb = "100"\nextensions = []\nmanifest = "/etc/passwd"\n'
        '[repair]\nunwrap_lines = "yes"\n[embedding]\nbatch_size = true\n[themes]\nrefit_share = nan\n',
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    message = str(error.value)
    for line, key in [(2, "ingest.max_file_mb"), (3, "ingest.extensions"), (4, "ingest.manifest"),
                      (6, "repair.unwrap_lines"), (8, "embedding.batch_size"), (10, "themes.refit_share")]:  # fmt: skip
        assert f"bad.toml:{line}: key '{key}'" in message, (key, message)
    assert "inside the corpus folder" in message
    for manifest in ("../outside.csv", "~/notes.csv"):
        path.write_text(f'[ingest]\nmanifest = "{manifest}"\n', encoding="utf-8")
        with pytest.raises(SettingsError, match="inside the corpus folder"):
            load_settings(path)
    path.write_text('[ingest]\nmanifest = "meta/manifest.csv"\nmax_file_mb = 5\n', encoding="utf-8")
    assert load_settings(path).ingest.max_file_mb == 5.0


def test_a_settings_file_that_changes_a_few_keys_keeps_the_shipped_sites(tmp_path):
    assert [site.id for site in load_settings(write(tmp_path, "[themes]\nenabled = false\n")).site] == [
        "nagoya",
        "osaka",
        "niihama",
    ]
    assert load_settings(write(tmp_path, "site = []\n[themes]\nenabled = false\n")).site == []
