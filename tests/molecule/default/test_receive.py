"""What the gate and storescp accept, on every gateway: the called AE title is enforced, each PACS
is tied to its calling AE title, every refusal is logged with its reason; compressed images are
accepted in their own transfer syntax and filed byte for byte."""

import os

from pydicom import dcmread

from harness import SENDER_AET, Sender, account, count, dataset_digest, dcmtk, journal_with

import dicomstudy


def echo(gw, calling=SENDER_AET, called=None):
    return dcmtk("echoscu", "-aet", calling, "-aec", called or gw["aetitle"], gw["ip"], str(gw["port"]), timeout=60)


def test_a_wrong_called_aetitle_is_rejected(host, gw):
    res = echo(gw, called="WRONGTITLE")
    assert res.returncode != 0
    assert "Called AE Title Not Recognized" in res.stderr, res.stderr
    assert "refused called-aetitle id=- peer=" in host.file(gw["log_dir"] + "/associations.log").content_string
    assert "called=WRONGTITLE" in journal_with(host, "pacsgate-gate", "called=WRONGTITLE")


def test_a_calling_aetitle_the_pacs_list_does_not_tie_to_this_source_is_rejected(host, gw):
    res = echo(gw, calling="NOTDECLARED")
    assert res.returncode != 0
    assert "Calling AE Title Not Recognized" in res.stderr, res.stderr
    assert "refused calling-aetitle" in host.file(gw["log_dir"] + "/associations.log").content_string


def test_the_declared_pacs_is_answered(gw):
    res = echo(gw)
    assert res.returncode == 0, res.stderr


def test_compressed_images_are_filed_byte_for_byte(host, gw, tmp_path):
    """A sender that offers only each file's own transfer syntax (JPEG Baseline and Lossless, JPEG
    2000, RLE, Deflated) is accepted, and each data set is filed exactly as it was sent."""
    manifest = dicomstudy.make_compressed(str(tmp_path))
    paths = sorted(str(tmp_path / name) for name in os.listdir(str(tmp_path)))
    sources = {}
    for path in paths:
        with open(path, "rb") as handle:
            data = handle.read()
        sources[str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = dataset_digest(data)
    sender = Sender(gw, paths, gap=0)
    sender.start()
    sender.join(120)
    assert sender.associated and not sender.error, sender.error
    figures = account(host, gw, manifest["study_uid"], sender, sources)
    count("compressed images on %s" % gw["name"], sent=len(paths), **{k: v for k, v in figures.items() if k != "reasons"})
    assert figures["acknowledged"] == len(paths) == len(manifest["instances"])
    assert figures["filed byte-identical"] == len(paths), figures
