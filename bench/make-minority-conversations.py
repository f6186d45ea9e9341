#!/usr/bin/env python3
"""Dev conversations with a minority reader heard for only a second or two: ../shared/tools/make_real_conversations.py
(same arguments, same spec), with one more spec field, 'cap': {reader: seconds}, which keeps only that reader's
first phrases after the enrollment clip, about that many seconds (at least one phrase). The shared tool is used as
it is: its phrase cutter is wrapped per reader while it builds.

usage: make-minority-conversations.py SRC_DIR SPEAKERS.TXT OUT_DIR SPEC.json
"""
import importlib.util
import json
import os
import sys

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'tools',
                    'make_real_conversations.py')
spec_ = importlib.util.spec_from_file_location('make_real_conversations', TOOL)
tool = importlib.util.module_from_spec(spec_)
spec_.loader.exec_module(tool)


def build(name, spec, files, out):
    cap = spec.get('cap', {})
    # The enrollment clip takes a reader's first phrases (at least enroll_seconds): the cap counts from there on.
    budget = {spk: secs + spec.get('enroll_seconds', 0) + 0.5 for spk, secs in cap.items()}
    phrases, load = tool.phrases, tool.load
    reader = {}

    def loading(path):
        reader['now'] = os.path.basename(path).split('-')[0]
        return load(path)

    def capped(x, *args, **kwargs):
        spk = reader['now']
        out_ = phrases(x, *args, **kwargs)
        if spk not in budget:
            return out_
        kept = []
        for a, b in out_:
            if budget[spk] <= 0:
                break
            kept.append((a, b))
            budget[spk] -= (b - a) / tool.SR
        return kept

    tool.phrases, tool.load = capped, loading
    try:
        tool.build(name, spec, files, out)
    finally:
        tool.phrases, tool.load = phrases, load


def main():
    src, _speakers_txt, out, spec_path = sys.argv[1:5]
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith('.flac'):
                files.setdefault(n.split('-')[0], []).append(os.path.join(root, n))
    os.makedirs(out, exist_ok=True)
    for name, spec in json.load(open(spec_path)).items():
        build(name, spec, files, out)


if __name__ == '__main__':
    main()
