"""Telemetry without a server: points per cell and interval, a bounded buffer while the
sink fails, and line protocol to a file."""

from xapp.telemetry import LineProtocolFile, Point, Telemetry


class FailingSink:
    def __init__(self):
        self.fail, self.written = True, []

    def write(self, points):
        if self.fail:
            raise ConnectionError("down")
        self.written.extend(points)


def test_an_interval_becomes_one_point_per_cell():
    tel = Telemetry(None)
    tel.record("c1", "101", 2, 8, 0.001, [0.01, 0.01], 0.2)
    tel.record("c1", "101", 2, 4, 0.003, beam_share=0.0)
    tel.dropped("c1", "non-finite", 2)
    tel.dropped("c2", "oversize")
    points = {p.cell: p for p in tel.close_interval()}
    assert points["c1"].fields["served"] == 12 and points["c1"].fields["dropped_non_finite"] == 2
    assert points["c1"].fields["nmse_db"] == -20.0 and points["c1"].fields["labelled"] == 2
    assert points["c1"].fields["beam_db"] == -10.0  # the mean share, 0.1, in dB
    assert points["c2"].env == "none" and points["c2"].fields["dropped"] == 1
    assert "beam_db" not in points["c2"].fields


def test_points_wait_in_a_bounded_buffer_while_the_sink_fails():
    sink = FailingSink()
    tel = Telemetry(sink, max_points=3)
    for i in range(5):
        tel.record(f"c{i}", "e", None, 1)
    tel.close_interval()
    assert tel.flush() is False and tel.buffered == 3 and tel.points_dropped == 2
    sink.fail = False
    assert tel.flush() is True and [p.cell for p in sink.written] == ["c2", "c3", "c4"]


def test_line_protocol_escapes_tags(tmp_path):
    path = tmp_path / "t" / "lines.txt"
    LineProtocolFile(path).write([Point("cell 1,a", "e=1", None, 5, {"served": 3})])
    assert path.read_text() == "csi_xapp,cell=cell\\ 1\\,a,env=e\\=1 served=3i,sam_version=-1i 5\n"
