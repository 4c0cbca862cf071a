#!/usr/bin/python3
"""Runs cltool with --json and checks the document's schema: the schema
name and version and the keys of every object, so that scripts such as
tools/plot-bench can rely on them.

usage: check-json.py CLTOOL devices
       check-json.py CLTOOL bench RESULTS [ARGUMENTS...]
RESULTS is the number of results each device should report.
Exit 77 (a skip) when cltool finds no OpenCL device.
"""

import json
import subprocess
import sys

DEVICE_KEYS = {"index", "platform", "name", "vendor", "type",
               "driver_version", "compute_units", "global_memory_bytes",
               "max_allocation_bytes", "global_cache_bytes", "double", "half"}
BENCH_DEVICE_KEYS = {"index", "name", "platform", "type", "compute_units",
                     "bandwidth", "first_result_s", "launch_latency_s",
                     "error", "results"}
TIMING_KEYS = {"runs", "median_s", "best_s", "gb_per_s"}
RESULT_KEYS = {"loss", "rows", "classes", "spatial", "input", "mode",
               "runs", "median_s",
               "best_s", "bytes", "gb_per_s", "percent_of_bandwidth",
               "bandwidth", "rows_per_s", "error"}

problems = []


def expect(condition, message):
    if not condition:
        problems.append(message)


def same_keys(obj, keys, where):
    expect(set(obj) == keys, "%s: keys %s, expected %s"
           % (where, sorted(obj), sorted(keys)))


def check_header(doc, schema):
    expect(doc.get("schema") == schema, "schema is %r" % doc.get("schema"))
    expect(doc.get("schema_version") == 1,
           "schema_version is %r" % doc.get("schema_version"))
    expect(isinstance(doc.get("clxent_version"), str), "no clxent_version")
    expect(isinstance(doc.get("devices"), list) and doc["devices"],
           "no devices")


def check_devices(doc):
    check_header(doc, "clxent-devices")
    for device in doc.get("devices", []):
        same_keys(device, DEVICE_KEYS, "device")
        expect(device.get("type") in ("gpu", "cpu", "accelerator", "custom",
                                      "other"), "bad type")


def check_result(result, where):
    same_keys(result, RESULT_KEYS, where)
    expect(result["error"] is None, "%s: error %r" % (where, result["error"]))
    expect(result["mode"] in ("loss", "loss_and_gradient"), "bad mode")
    expect(result["input"] in ("logits", "probabilities"), "bad input")
    expect(result["bandwidth"] in ("read", "copy"), "bad bandwidth")
    expect(result["runs"] >= 1, "%s: no runs" % where)
    for key in ("median_s", "best_s", "gb_per_s", "rows_per_s"):
        expect(isinstance(result[key], (int, float)) and result[key] > 0,
               "%s: %s is %r" % (where, key, result[key]))
    expect(result["best_s"] <= result["median_s"], "best above median")


def check_bench(doc, expected_results):
    check_header(doc, "clxent-bench")
    expect(isinstance(doc.get("timing"), str), "no timing note")
    for device in doc.get("devices", []):
        where = "device %s" % device.get("index")
        same_keys(device, BENCH_DEVICE_KEYS, where)
        bandwidth = device["bandwidth"]
        same_keys(bandwidth, {"buffer_bytes", "copy", "read"}, where)
        same_keys(bandwidth["copy"], TIMING_KEYS, where + " copy")
        same_keys(bandwidth["read"], TIMING_KEYS, where + " read")
        expect(len(device["results"]) == expected_results,
               "%s: %d results, expected %d"
               % (where, len(device["results"]), expected_results))
        for result in device["results"]:
            check_result(result, "%s %s" % (where, result.get("loss")))


def main():
    cltool, kind = sys.argv[1], sys.argv[2]
    expected = int(sys.argv[3]) if kind == "bench" else 0
    arguments = sys.argv[4:] if kind == "bench" else sys.argv[3:]
    run = subprocess.run([cltool, kind, "--json"] + arguments,
                         stdout=subprocess.PIPE, universal_newlines=True)
    if run.returncode == 77:
        print("no OpenCL device")
        return 77
    if run.returncode != 0:
        print("cltool exited %d" % run.returncode)
        return 1
    doc = json.loads(run.stdout)
    if kind == "devices":
        check_devices(doc)
    else:
        check_bench(doc, expected)
    for problem in problems:
        print("FAIL:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
