from hypothesis import given
from hypothesis import strategies as st

from contracts.pro import canonical_pro, check_digit, is_valid_pro, make_pro, parse_dest_line, parse_pro_line

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


def test_check_digit_is_first_nine_mod_7():
    assert check_digit("482711930") == 482711930 % 7
    assert is_valid_pro("4827119301") == (482711930 % 7 == 1)


@given(nine_digits)
def test_made_pro_numbers_are_valid_and_single_digit_changes_are_mostly_caught(first):
    pro = make_pro(first)
    assert is_valid_pro(pro)
    assert int(pro[-1]) <= 6
    wrong_check = first + str((int(pro[-1]) + 1) % 10)
    assert not is_valid_pro(wrong_check)


def test_groupings_parse_to_canonical_form():
    pro = make_pro("482711930")
    for line in (f"PRO {pro}", f"PRO {pro[:9]}-{pro[9]}", f"PRO {pro[:4]} {pro[4:8]} {pro[8:]}"):
        assert parse_pro_line(line) == pro
    assert canonical_pro("4827 1193 01") == "4827119301"
    assert canonical_pro("12345") is None


def test_invalid_check_digit_is_never_an_answer():
    pro = make_pro("123456789")
    bad = pro[:9] + str((int(pro[9]) + 1) % 7)
    assert parse_pro_line(f"PRO {bad}") is None


def test_dest_line():
    assert parse_dest_line("DEST MEM") == "MEM"
    assert parse_dest_line("DEST me") is None
