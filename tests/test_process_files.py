"""`process_files`: a model over a corpus, batched across files, equal to `process_file` file by file (issue 29)."""

import csv
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile
from test_process_file import Gain, identity, make_model
from test_separation import Gains

import keras_spectro as ks
from keras_spectro import files
from keras_spectro.audio import process_file, process_files
from keras_spectro.cli import main
from keras_spectro.corpus import bucket

from conftest import BACKEND, assert_exact

RATE = 16000
PADS = BACKEND != "tensorflow"  # short recordings padded to shared lengths (not under TensorFlow)
CHUNK = dict(chunk_seconds=0.5, overlap_seconds=0.1)  # 8000-sample chunks; the STFT's hop is 64


def write(path, samples, channels=2, rate=RATE, seed=0, subtype="FLOAT"):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.2 * rng.uniform(-1, 1, (samples, channels)), rate, subtype=subtype)
    return path


def read(path):
    return soundfile.read(path, dtype="float32", always_2d=True)[0]


@pytest.fixture
def corpus(tmp_path):
    """A nested folder of stereo recordings, short and long, with a text file among them."""
    root = tmp_path / "in"
    for i, (name, samples) in enumerate(
        [("a.wav", 3000), ("b.flac", 20001), ("sub/c.wav", 5000), ("sub/deep/d.wav", 7999), ("sub/e.wav", 9001)]
    ):
        write(root / name, samples, seed=i, subtype="PCM_24" if name.endswith(".flac") else "FLOAT")
    (root / "sub" / "notes.txt").write_text("not audio")
    return root


def outputs(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_nested_folder_is_mirrored_and_each_output_is_process_files(tmp_path, corpus, monkeypatch, capsys):
    model = make_model(2)
    shapes, predict = [], files.predict
    monkeypatch.setattr(files, "predict", lambda model, x, *args: shapes.append(x.shape) or predict(model, x, *args))
    rows = process_files(model, corpus, tmp_path / "out", batch_size=4, verbose=0, **CHUNK)
    assert capsys.readouterr().out == ""
    out = tmp_path / "out"
    assert outputs(out) == ["a.wav", "b.flac", "sub/c.wav", "sub/deep/d.wav", "sub/e.wav"]
    assert [row["source"] for row in rows] == sorted(str(p) for p in corpus.rglob("*.*") if p.suffix != ".txt")
    assert {row["status"] for row in rows} == {"done"} and all(row["error"] is None for row in rows)
    # every recording longer than a chunk (b: 3 chunks, e: 2) runs at the chunk's length, with the others batched
    assert len(shapes) < 5 + 3 + 2 and max(s[0] for s in shapes) == 4 and len({s[1] for s in shapes}) <= 3, shapes
    monkeypatch.undo()
    for row in rows:
        (target,) = row["targets"]
        source = row["source"]
        assert row["seconds"] == soundfile.info(source).duration
        assert soundfile.info(target).subtype == soundfile.info(source).subtype
        wave = read(source)
        if row["padded_to"] is None:  # as process_file writes it
            expected = read(
                process_file(
                    model,
                    source,
                    tmp_path / "one.flac" if source.endswith("flac") else tmp_path / "one.wav",
                    verbose=0,
                    **CHUNK,
                )
            )
        else:  # the model's output for the recording padded with zeros, cut back
            assert row["padded_to"] > len(wave)
            expected = model.predict_on_batch(np.pad(wave, ((0, row["padded_to"] - len(wave)), (0, 0)))[None])[0][
                : len(wave)
            ]
        tolerance = 2**-23 + 1e-6 if source.endswith("flac") else 1e-5
        np.testing.assert_allclose(read(target), expected, atol=tolerance)
    # d: one chunk of 7999 samples, its own length; TensorFlow pads nothing (one tf.function takes every shape)
    assert [row["padded_to"] for row in rows] == ([3072, None, 5120, None, None] if PADS else [None] * 5)


def test_the_round_trip_of_a_corpus_gives_back_every_recording(tmp_path, corpus):
    rows = process_files(identity(2, None), corpus, tmp_path / "out", verbose=0, **CHUNK)
    assert len(rows) == 5 and any(row["padded_to"] for row in rows) == PADS
    for row in rows:
        assert_exact(read(row["targets"][0]), read(row["source"]), 1e-4)


def test_lists_globs_and_templates(tmp_path, corpus):
    model = identity(2, None)
    rows = process_files(model, str(corpus / "**" / "*.wav"), str(tmp_path / "g"), verbose=0)
    assert outputs(tmp_path / "g") == ["a.wav", "c.wav", "d.wav", "e.wav"]  # a glob: file names in one folder
    assert len(rows) == 4
    rows = process_files(model, corpus, str(tmp_path / "t" / "{parent}" / "{stem}_clean.flac"), verbose=0)
    assert outputs(tmp_path / "t") == [
        "a_clean.flac",
        "b_clean.flac",
        "sub/c_clean.flac",
        "sub/deep/d_clean.flac",
        "sub/e_clean.flac",
    ]
    assert soundfile.info(tmp_path / "t" / "a_clean.flac").subtype == "PCM_24"  # float source into FLAC
    listed = [corpus / "sub" / "c.wav", str(corpus / "b.flac")]
    rows = process_files(model, listed, tmp_path / "l", verbose=0)
    assert [row["targets"] for row in rows] == [[str(tmp_path / "l" / "b.flac")], [str(tmp_path / "l" / "c.wav")]]
    for row in rows:
        assert_exact(read(row["targets"][0]), read(row["source"]), 1e-4)
    # one file to a file name: a template without fields
    (row,) = process_files(model, corpus / "a.wav", tmp_path / "one.wav", verbose=0)
    assert row["targets"] == [str(tmp_path / "one.wav")] and row["status"] == "done"
    with pytest.raises(ValueError, match="takes {stem}, {parent} and {source}"):
        process_files(model, corpus, str(tmp_path / "{name}.wav"), verbose=0)


def test_each_failure_is_a_failed_row_with_nothing_written_and_the_rest_goes_on(tmp_path, corpus, capsys):
    write(corpus / "mono.wav", 4000, channels=1)
    write(corpus / "fast.wav", 4000, rate=22050)
    (corpus / "text.wav").write_text("not audio")
    write(corpus / "x" / "same.wav", 3000)
    write(corpus / "y" / "same.wav", 3000, seed=9)
    out = tmp_path / "out"
    rows = process_files(identity(2, RATE), corpus, str(out / "{stem}.wav"), **CHUNK)
    says = {row["source"].removeprefix(str(corpus) + "/"): row["error"] for row in rows if row["status"] == "failed"}
    assert sorted(says) == ["fast.wav", "mono.wav", "text.wav", "x/same.wav", "y/same.wav"]
    assert "mono.wav has 1 channel(s), but the model takes 2" in says["mono.wav"]
    assert "sample rate 22050 Hz, but the model was made for 16000 Hz" in says["fast.wav"]
    assert "text.wav: not an audio file" in says["text.wav"]
    assert "also the target of" in says["x/same.wav"] and "also the target of" in says["y/same.wav"]
    assert all("\n" not in error for error in says.values())
    assert outputs(out) == ["a.wav", "b.wav", "c.wav", "d.wav", "e.wav"]
    assert capsys.readouterr().out.strip().endswith("5 done, 0 skipped, 5 failed")
    # a target that is a source, and NaN output: failed, nothing written, the folder made for it gone again
    (row,) = process_files(identity(2, None), [corpus / "a.wav"], str(corpus / "{stem}.wav"), verbose=0)
    assert row["status"] == "failed" and "is the source recording itself" in row["error"]
    nan = keras.Sequential([keras.Input((None, 2)), Gain(float("nan"))])
    rows = process_files(nan, corpus / "sub", tmp_path / "nan", verbose=0, **CHUNK)
    assert {row["status"] for row in rows} == {"failed"} and "NaN or inf" in rows[0]["error"]
    assert not (tmp_path / "nan").exists()


def test_a_target_that_is_another_source_fails(tmp_path, corpus):
    write(corpus / "sub" / "a.wav", 3000)
    rows = process_files(identity(2, None), [corpus / "a.wav", corpus / "sub" / "a.wav"], corpus / "sub", verbose=0)
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert "a source of this run" in rows[0]["error"] and "is the source recording itself" in rows[1]["error"]
    (row,) = process_files(identity(2, None), [corpus / "a.wav"], corpus / "b.flac" / "x", verbose=0)
    assert row["status"] == "failed" and "b.flac is a file, not a folder" in row["error"]


def test_a_rerun_skips_overwrite_redoes_and_the_report(tmp_path, corpus):
    out, report = tmp_path / "out", tmp_path / "report.csv"
    (corpus / "bad.wav").write_text("not audio")
    first = process_files(identity(2, None), corpus, out, report=report, verbose=0, **CHUNK)
    with open(report, newline="") as file:
        table = list(csv.DictReader(file))
    assert list(table[0]) == ["source", "targets", "status", "seconds", "error"]
    assert [r["source"] for r in table] == [row["source"] for row in first]
    assert [r["status"] for r in table] == ["done", "done", "failed", "done", "done", "done"]
    assert table[2]["seconds"] == "" and "not an audio file" in table[2]["error"]
    assert float(table[1]["seconds"]) == pytest.approx(20001 / RATE) and table[1]["targets"] == str(out / "b.flac")
    (out / "sub" / "c.wav").unlink()
    model = make_model(2)  # another model: a redone file shows it
    again = process_files(model, corpus, out, report=report, verbose=0, **CHUNK)
    assert [row["status"] for row in again] == ["skipped", "skipped", "failed", "done", "skipped", "skipped"]
    assert_exact(read(out / "a.wav"), read(corpus / "a.wav"), 1e-4)
    assert not np.allclose(read(out / "sub" / "c.wav"), read(corpus / "sub" / "c.wav"), atol=1e-3)
    with open(report, newline="") as file:
        assert [r["status"] for r in csv.DictReader(file)] == [row["status"] for row in again]
    redone = process_files(model, corpus, out, overwrite=True, verbose=0, **CHUNK)
    assert [row["status"] for row in redone] == ["done", "done", "failed", "done", "done", "done"]
    assert not np.allclose(read(out / "a.wav"), read(corpus / "a.wav"), atol=1e-3)
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_a_two_source_model_writes_every_source_and_resumes_per_source(tmp_path, corpus):
    model = keras.Sequential(
        [keras.Input((None, 2)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)], Gains((0.5, -1.5)), sources=2)]
    )
    out = tmp_path / "out"
    rows = process_files(model, corpus / "sub", out, verbose=0, **CHUNK)
    assert outputs(out) == ["c_0.wav", "c_1.wav", "deep/d_0.wav", "deep/d_1.wav", "e_0.wav", "e_1.wav"]
    for row in rows:
        wave = read(row["source"])
        for k, gain in enumerate((0.5, -1.5)):
            assert_exact(read(row["targets"][k]), gain * wave, 1e-4)
    (out / "e_1.wav").unlink()
    again = process_files(model, corpus / "sub", out, verbose=0, **CHUNK)
    assert [row["status"] for row in again] == ["skipped", "skipped", "done"]
    assert_exact(read(out / "e_1.wav"), -1.5 * read(corpus / "sub" / "e.wav"), 1e-4)
    with pytest.raises(ValueError, match=r"put \{source\} in the target's name"):
        process_files(model, corpus, str(tmp_path / "{stem}.wav"), verbose=0)


def test_the_buckets_are_few_multiples_of_the_hop():
    sizes = {bucket(n, 160767, 256, 512) for n in range(1, 160767)}
    assert all(size % 256 == 0 for size in sizes - {160767}) and len(sizes) == 4 * 7 + 2, sorted(sizes)
    assert all(n <= bucket(n, 160767, 256, 512) <= max(1.25 * n, 1024) for n in range(1, 160767, 7))
    assert [bucket(n, 160767, 256, 512) for n in (1, 1025, 2049, 5000, 150000)] == [1024, 1280, 2560, 5120, 160767]
    assert bucket(1, 7999, 64, 256) == 256 and bucket(1, 100, 64, 256) == 100  # never past the chunk


def test_progress_and_summary(tmp_path, corpus, capsys):
    process_files(identity(2, None), corpus, tmp_path / "out", **CHUNK)
    out = capsys.readouterr().out
    assert out.rstrip().endswith("5 done, 0 skipped, 0 failed") and "━" in out


@pytest.fixture
def saved(tmp_path):
    identity(2, None).save(tmp_path / "model.keras")
    return str(tmp_path / "model.keras")


def test_the_command_over_a_folder(tmp_path, corpus, saved, capsys):
    out = str(tmp_path / "out")
    assert main(["apply", saved, str(corpus), "-o", out, "--batch-size", "3", "--overlap-seconds", "0.1"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "5 done, 0 skipped, 0 failed\n" and captured.err == "", captured
    (corpus / "bad.wav").write_text("not audio")
    write(corpus / "mono.wav", 3000, channels=1)
    report = tmp_path / "r.csv"
    args = ["apply", saved, str(corpus), "-o", out, "--overlap-seconds", "0.1", "--report", str(report)]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == "0 done, 5 skipped, 2 failed\n"
    lines = captured.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"keras-spectro: failed: {corpus / 'bad.wav'}: ")
    assert "mono.wav has 1 channel(s)" in lines[1] and report.is_file()
    # several sources on the command line take a folder; one file to one file works as before
    assert (
        main(
            [
                "apply",
                saved,
                str(corpus / "a.wav"),
                str(corpus / "sub"),
                "-o",
                str(tmp_path / "two"),
                "--overlap-seconds",
                "0.1",
            ]
        )
        == 0
    )
    assert outputs(tmp_path / "two") == ["a.wav", "c.wav", "deep/d.wav", "e.wav"]
    capsys.readouterr()
    assert main(["apply", saved, str(corpus / "a.wav"), "-o", str(tmp_path / "a.wav"), "--overlap-seconds", "0.1"]) == 0
    assert capsys.readouterr().out.startswith(f"Wrote {tmp_path / 'a.wav'}: 0.2 s")


SLOW = """
import sys, time
from keras_spectro import audio_io
read = audio_io.read_frames
def slow(*args):
    print("read", flush=True)
    time.sleep(0.4)
    return read(*args)
audio_io.read_frames = slow
from keras_spectro.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "signum, code, line", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_sigterm_in_the_middle_leaves_only_whole_files_and_a_rerun_completes(tmp_path, saved, signum, code, line):
    corpus = tmp_path / "in"
    for i in range(6):  # one length to run at: batches of two
        write(corpus / f"f{i}.wav", 3000 + 10 * i, seed=i)
    out, report = tmp_path / "out", tmp_path / "r.csv"
    args = [
        "apply",
        saved,
        str(corpus),
        "-o",
        str(out),
        "--batch-size",
        "2",
        "--overlap-seconds",
        "0.1",
        "--report",
        str(report),
    ]
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for _ in range(3):  # f0, f1 read, run and written; f2 being read, its temporary open
        assert child.stdout.readline() == "read\n"
    child.send_signal(signum)  # SIGTERM, or Ctrl-C
    _, err = child.communicate(timeout=120)
    assert child.returncode == code and err.endswith(f"keras-spectro: {line}\n"), err
    written = outputs(out)
    assert 1 <= len(written) < 6 and not [p for p in tmp_path.rglob("*.tmp")], written
    for name in written:
        assert_exact(read(out / name), read(corpus / name), 1e-4)
    with open(report, newline="") as file:
        assert [r["status"] for r in csv.DictReader(file)] == ["done"] * len(written)
    assert main(args[:-2]) == 0
    assert outputs(out) == [f"f{i}.wav" for i in range(6)]
    for i in range(6):
        assert_exact(read(out / f"f{i}.wav"), read(corpus / f"f{i}.wav"), 1e-4)


def test_one_sample_a_channels_first_model_and_batches_of_one(tmp_path):
    write(tmp_path / "in" / "one.wav", 1)
    write(tmp_path / "in" / "long.wav", 20001, seed=1)
    domain = ks.SpectrogramDomain(
        [ks.STFTSplit(n_fft=256, data_format="channels_first", pad_mode="reflect")], data_format="channels_first"
    )
    model = keras.Sequential([keras.Input((2, None)), domain])
    rows = process_files(model, tmp_path / "in", tmp_path / "out", batch_size=1, verbose=0, **CHUNK)
    long, one = rows
    assert long["status"] == "done" and long["padded_to"] is None
    assert_exact(read(long["targets"][0]), read(long["source"]), 1e-4)
    if PADS:  # one sample runs at n_fft, past what reflect needs
        assert one["padded_to"] == 256 and one["status"] == "done"
        assert_exact(read(one["targets"][0]), read(one["source"]), 1e-4)
    else:  # at its own length, as process_file runs it: too short for reflect, a failed row
        assert one["status"] == "failed" and "reflect" in one["error"] and "\n" not in one["error"]
        assert not (tmp_path / "out" / "one.wav").exists()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        process_files(model, tmp_path / "in", tmp_path / "out", batch_size=0)


@pytest.mark.parametrize("target", ["out", "out/{parent}/{stem}_clean.wav"])
def test_a_target_folder_inside_the_sources_folder_is_no_source_on_a_rerun(tmp_path, corpus, target):
    rows = process_files(identity(2, None), corpus, str(corpus / target), verbose=0)
    assert [row["status"] for row in rows] == ["done"] * 5
    again = process_files(identity(2, None), corpus, str(corpus / target), verbose=0)
    assert [(row["source"], row["status"]) for row in again] == [(row["source"], "skipped") for row in rows]
    written = sorted(p for p in (corpus / "out").rglob("*") if p.is_file())
    assert len(written) == 5 and not (corpus / "out" / "out").exists()
    pattern = str(corpus / "*.wav")  # a glob over it, into a folder inside: the same
    for status in ("done", "skipped"):
        again = process_files(identity(2, None), pattern, str(corpus / "flat"), verbose=0)
        assert [(row["source"], row["status"]) for row in again] == [(str(corpus / "a.wav"), status)]
    for row in rows:
        assert_exact(read(row["targets"][0]), read(row["source"]), 1e-4)


def test_batch_size_takes_numpy_integers_and_refuses_the_rest(tmp_path, corpus):
    from keras_spectro import distributed

    rows = process_files(identity(2, None), corpus, tmp_path / "out", batch_size=np.int64(2), verbose=0)
    assert [row["status"] for row in rows] == ["done"] * 5
    for bad in (0, -1, 2.0, True, np.bool_(True), "4", None):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            process_files(identity(2, None), corpus, tmp_path / "out", batch_size=bad, verbose=0)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):  # before Ray starts
            distributed.process_files(tmp_path / "none.keras", corpus, tmp_path / "ray", batch_size=bad)


def test_a_file_named_twice_is_done_once(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = ["in", "in/sub/c.wav", "./in/a.wav", str(corpus / "a.wav")]  # the folder, then files in it again
    rows = process_files(identity(2, None), sources, "out", verbose=0)
    assert [(row["source"], row["status"]) for row in rows] == [
        ("in/a.wav", "done"),
        ("in/b.flac", "done"),
        ("in/sub/c.wav", "done"),
        ("in/sub/deep/d.wav", "done"),
        ("in/sub/e.wav", "done"),
    ]
    assert outputs(tmp_path / "out") == ["a.wav", "b.flac", "sub/c.wav", "sub/deep/d.wav", "sub/e.wav"]


def test_a_report_that_is_a_recording_or_a_folder_is_refused_before_any_work(tmp_path, corpus):
    a = read(corpus / "a.wav")
    for report, error in [
        (corpus / "a.wav", "a recording of this run"),
        (tmp_path / "out" / "b.flac", "a recording of this run"),
        (corpus, "is a folder"),
        (corpus / "a.wav" / "r.csv", "is a file, not a folder"),
    ]:
        with pytest.raises((ValueError, OSError), match=error):
            process_files(identity(2, None), corpus, tmp_path / "out", report=report, verbose=0)
        assert not (tmp_path / "out").exists()
    assert_exact(read(corpus / "a.wav"), a, 0)  # the source is untouched
    report = tmp_path / "reports" / "new" / "r.csv"  # missing folders are made, as for the targets
    rows = process_files(identity(2, None), corpus, tmp_path / "out", report=report, verbose=0)
    with open(report, newline="") as file:
        assert [row["source"] for row in csv.DictReader(file)] == [row["source"] for row in rows]


def test_recordings_in_a_target_folder_inside_the_sources_folder_are_still_done(tmp_path, corpus):
    # sub/ holds recordings, and becomes the target folder: they are sources, the results are not
    for _ in range(2):
        rows = process_files(identity(2, None), corpus, corpus / "sub", verbose=0)
    assert [(row["source"][len(str(corpus)) + 1 :], row["status"]) for row in rows] == [
        ("a.wav", "skipped"),
        ("b.flac", "skipped"),
        ("sub/c.wav", "skipped"),
        ("sub/deep/d.wav", "skipped"),
        ("sub/e.wav", "skipped"),
    ]
    for row in rows:
        assert_exact(read(row["targets"][0]), read(row["source"]), 1e-4)
    written = sorted(str(p.relative_to(corpus / "sub")) for p in (corpus / "sub").rglob("*.*"))
    assert written == ["a.wav", "b.flac", "c.wav", "deep/d.wav", "e.wav", "notes.txt"] + [
        "sub/c.wav",
        "sub/deep/d.wav",
        "sub/e.wav",
    ]


def test_padded_to_says_how_a_bare_layer_ran(tmp_path, corpus):
    # under TensorFlow only a Keras model of known channels runs unpadded: a bare layer is padded, and says so
    domain = ks.SpectrogramDomain([ks.STFTSplit(n_fft=256)])
    rows = process_files(domain, corpus, tmp_path / "out", verbose=0, **CHUNK)
    short = [row for row in rows if row["seconds"] * RATE <= 7000]
    assert short and all(row["padded_to"] is not None and row["padded_to"] % 64 == 0 for row in short)
    for row in rows:
        assert row["status"] == "done"
        assert_exact(read(row["targets"][0]), read(row["source"]), 1e-4)


def test_50_percent_overlap_recordings_of_several_chunks_equal_the_whole_file(tmp_path):
    """The last chunk runs at the size that gives the whole file's frames (the domain pads poorly covered lengths),
    also when the chunks of several recordings share `predict` calls."""
    keras.utils.set_random_seed(3)
    network = keras.Sequential([keras.Input((129, None, 2)), keras.layers.Conv2D(2, 3, padding="same")])
    model = keras.Sequential(
        [keras.Input((None, 1)), ks.SpectrogramDomain([ks.STFTSplit(n_fft=256, hop_length=128)], network)]
    )
    lengths = [60 * 128 + 9, 60 * 128 + 100, 60 * 128 + 127, 3001]
    for i, samples in enumerate(lengths):
        write(tmp_path / "in" / f"{i}.wav", samples, channels=1, seed=i)
    rows = process_files(model, tmp_path / "in", tmp_path / "out", chunk_seconds=0.2, overlap_seconds=0.1, verbose=0)
    assert {row["status"] for row in rows} == {"done"}
    for row in rows:
        wave = read(row["source"])
        whole = model.predict(np.pad(wave, ((0, (row["padded_to"] or len(wave)) - len(wave)), (0, 0)))[None], verbose=0)
        assert_exact(read(row["targets"][0]), whole[0, : len(wave)])
