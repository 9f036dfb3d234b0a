"""One index, two processes: one writing, the other searching and trying to write."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import plaid

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import plaid
    index = plaid.Index(sys.argv[1])
    vectors = np.load(sys.argv[2])
    index.add([vectors], ["from-the-writer"])   # takes the writer lock, held until close
    print("written", flush=True)
    sys.stdin.readline()
    index.close()
    print("closed", flush=True)
""")


def test_a_second_writer_gets_the_lock_sentence_and_readers_see_each_commit(built, corpus, tmp_path):
    vectors = tmp_path / "vectors.npy"
    np.save(vectors, corpus.documents[0] * -1)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, built.path, str(vectors)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        reader = plaid.Index(built.path)
        # The reader sees the other process's commit...
        assert reader.search(corpus.documents[0] * -1, k=1)[0][0]["id"] == "from-the-writer"
        # ...and cannot write while that process holds the lock.
        with pytest.raises(plaid.IndexLockedError, match=r"is locked by process \d+ .*another plaid is writing to it"):
            reader.add(corpus.documents[:1], ["from-the-reader"])
        assert reader.info()["documents"] == len(corpus.ids) + 1
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "closed"
        # Once the writer has closed, the lock is free.
        assert reader.add(corpus.documents[:1], ["from-the-reader"])["added"] == 1
        reader.close()
    finally:
        writer.kill()
        writer.wait()
