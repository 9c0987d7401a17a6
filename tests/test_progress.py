from tsne_native._progress import Progress


def test_stages_are_timed_and_described(capsys):
    progress = Progress(verbose=True)
    with progress.stage("search", "nearest neighbours"):
        pass
    with progress.stage("quiet part"):
        pass
    progress.say("done")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[tsne_native] nearest neighbours ..."
    assert lines[1].startswith("[tsne_native] nearest neighbours: ") and lines[1].endswith(" s")
    assert lines[2] == "[tsne_native] done" and len(lines) == 3
    assert set(progress.seconds) == {"search", "quiet part"}
    assert all(seconds >= 0 for seconds in progress.seconds.values())


def test_not_verbose_prints_nothing_but_still_times(capsys):
    progress = Progress(verbose=False)
    with progress.stage("search", "nearest neighbours"):
        pass
    progress.say("done")
    assert capsys.readouterr().err == ""
    assert "search" in progress.seconds
