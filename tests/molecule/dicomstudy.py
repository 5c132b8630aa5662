"""Generate DICOM test studies with fresh UIDs from pydicom's CT sample.

Used by the Molecule verifiers and the demo. Every call makes a new patient, study, series and
instance UIDs, so repeated runs never collide with what a gateway already filed.
"""

import argparse
import json
import os

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def make_study(out_dir, series=2, per_series=60, patient_id=None, description="PACSGATE TEST"):
    """Write series x per_series CT instances into out_dir; return a manifest dict."""
    os.makedirs(out_dir, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    study_uid = generate_uid()
    patient_id = patient_id or "PG" + study_uid.rsplit(".", 1)[-1][-10:]
    manifest = {
        "patient_id": patient_id,
        "study_uid": study_uid,
        "series": {},
    }
    for s in range(1, series + 1):
        series_uid = generate_uid()
        instances = []
        for i in range(1, per_series + 1):
            ds = template.copy()
            sop_uid = generate_uid()
            ds.PatientID = patient_id
            ds.PatientName = "PACSGATE^TEST"
            ds.StudyInstanceUID = study_uid
            ds.StudyDescription = description
            ds.StudyDate = "20261129"
            ds.SeriesInstanceUID = series_uid
            ds.SeriesDescription = "SERIES %d" % s
            ds.SeriesNumber = s
            ds.SeriesDate = "20261129"
            ds.InstanceNumber = i
            ds.SOPInstanceUID = sop_uid
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            ds.save_as(os.path.join(out_dir, "s%02d-i%05d.dcm" % (s, i)), enforce_file_format=True)
            instances.append(sop_uid)
        manifest["series"][series_uid] = instances
    return manifest


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--series", type=int, default=2)
    parser.add_argument("--per-series", type=int, default=60)
    args = parser.parse_args()
    print(json.dumps(make_study(args.out_dir, args.series, args.per_series), indent=1))


if __name__ == "__main__":
    main()


# Samples of pydicom's test data in compressed transfer syntaxes, as archives store them.
COMPRESSED_SAMPLES = {
    "JPEG Baseline": "SC_rgb_jpeg_dcmtk.dcm",
    "JPEG Lossless": "SC_rgb_jpeg_gdcm.dcm",
    "JPEG 2000": "JPEG2000.dcm",
    "JPEG 2000 Lossless": "MR_small_jp2klossless.dcm",
    "RLE Lossless": "MR_small_RLE.dcm",
    "Deflated Explicit VR Little Endian": "image_dfl.dcm",
}


def make_compressed(out_dir, patient_id=None):
    """One instance per compressed sample, with fresh UIDs in one study, its pixel data and transfer
    syntax untouched. Returns a manifest: study_uid, patient_id and {SOPInstanceUID: syntax name}."""
    os.makedirs(out_dir, exist_ok=True)
    study_uid = generate_uid()
    patient_id = patient_id or "PGZ" + study_uid.rsplit(".", 1)[-1][-9:]
    instances = {}
    for number, (name, sample) in enumerate(sorted(COMPRESSED_SAMPLES.items()), start=1):
        ds = pydicom.dcmread(get_testdata_file(sample))
        sop_uid = generate_uid()
        ds.PatientID, ds.PatientName = patient_id, "PACSGATE^COMPRESSED"
        ds.StudyInstanceUID, ds.StudyDescription, ds.StudyDate = study_uid, "PACSGATE COMPRESSED", "20261201"
        ds.SeriesInstanceUID, ds.SeriesDescription, ds.SeriesNumber = generate_uid(), name, number
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.save_as(os.path.join(out_dir, "c%02d.dcm" % number), enforce_file_format=True)
        instances[sop_uid] = name
    return {"study_uid": study_uid, "patient_id": patient_id, "instances": instances}
