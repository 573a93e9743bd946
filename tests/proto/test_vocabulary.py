"""Every ID-check value on the wire has words in both languages, and no words name a value the wire lacks."""

import pytest

from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import vocabulary


@pytest.mark.parametrize(
    ("enum", "prefix", "words"),
    [
        (pb.IdCheckResult, "ID_CHECK_RESULT_", vocabulary.RESULTS),
        (pb.DocumentType, "DOCUMENT_TYPE_", vocabulary.DOCUMENTS),
        (pb.ReadMethod, "READ_METHOD_", vocabulary.READ_METHODS),
    ],
)
def test_each_wire_value_has_words_and_nothing_else_does(enum, prefix, words):
    values = {
        vocabulary.wire_name(name, prefix)
        for name in enum.DESCRIPTOR.values_by_name
        if not name.endswith("_UNSPECIFIED")
    }
    assert set(words) == values
    for code, w in words.items():
        assert set(w) == {"zh", "en"} and all(w.values()), code
        assert w["zh"] != w["en"] and code not in w["zh"]


def test_the_edge_lists_are_built_from_the_catalogue():
    from humiao.edge.idcheck.documents import DOCUMENTS
    from humiao.edge.idcheck.outcomes import RESULTS

    assert [r.code for r in RESULTS] == list(vocabulary.RESULTS)
    assert [d.code for d in DOCUMENTS] == list(vocabulary.DOCUMENTS)
    assert [d.code for d in DOCUMENTS if not d.manual_birth_date] == ["citizen_id"]
