"""machine.Timer of the virtual board, under the real MicroPython."""

from test_sim_firmware import Board, answers


def test_a_one_shot_timer_rearmed_from_its_own_callback_keeps_firing(tmp_path):
    # The callback re-arms its timer while the timer thread may still be
    # retiring it: the new deadline must survive, every time.
    board = Board(tmp_path, {"main.py": (
        "import time\n"
        "from machine import Timer\n"
        "fired = []\n"
        "def again(t):\n"
        "    fired.append(1)\n"
        "    if len(fired) < 100:\n"
        "        t.init(mode=Timer.ONE_SHOT, period=1, callback=again)\n"
        "t = Timer(0, mode=Timer.ONE_SHOT, period=1, callback=again)\n"
        "start = time.ticks_ms()\n"
        "while len(fired) < 100 and time.ticks_diff(time.ticks_ms(), start) < 5000:\n"
        "    pass\n"
    )})
    code, out = board.boot("print('=%d' % len(fired))")
    assert answers(out) == ["100"], out
