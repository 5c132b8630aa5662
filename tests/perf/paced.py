"""A paced sender for the memory figures: ASSOCIATIONS associations open at once, each sending
its files one by one with PAUSE seconds between them, so that the receiver holds many associations
in progress for a while (pynetdicom, from the harness virtualenv).

    python paced.py HOST PORT CALLED_AE PAUSE DIR [DIR ...]     (one association per DIR)

Prints one JSON line: {"associations": n, "accepted": n, "sent": n, "success": n, "wall_s": s}.
"""

import json
import os
import sys
import threading
import time


def send_paced(host, port, called, calling, dirs, pause):
    from pydicom import dcmread
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage  # pylint: disable=no-name-in-module
    from pydicom.uid import ExplicitVRLittleEndian

    results = []
    lock = threading.Lock()

    def one(directory):
        ae = AE(ae_title=calling)
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
        assoc = ae.associate(host, port, ae_title=called)
        row = {"accepted": assoc.is_established, "sent": 0, "success": 0}
        if assoc.is_established:
            for name in sorted(os.listdir(directory)):
                status = assoc.send_c_store(dcmread(os.path.join(directory, name)))
                row["sent"] += 1
                row["success"] += 1 if status and status.Status == 0 else 0
                time.sleep(pause)
            assoc.release()
        with lock:
            results.append(row)

    t0 = time.time()
    threads = [threading.Thread(target=one, args=(d,)) for d in dirs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"associations": len(dirs), "accepted": sum(r["accepted"] for r in results),
            "sent": sum(r["sent"] for r in results), "success": sum(r["success"] for r in results),
            "wall_s": round(time.time() - t0, 2)}


def main(argv):
    host, port, called, pause = argv[0], int(argv[1]), argv[2], float(argv[3])
    print(json.dumps(send_paced(host, port, called, "BENCH", argv[4:], pause)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
