"""Saved outputs hold no progress bar, no widget state and keep every warning (theory_collection.notebook_outputs)."""

from nbformat.v4 import new_code_cell, new_notebook, new_output

from theory_collection.notebook_outputs import WIDGET_VIEW, clean_outputs, leftovers

BAR = "\rtrain:   0%|          | 0/3 [00:00<?, ?it/s]\rtrain: 100%|##########| 3/3 [00:01<00:00,  2.9it/s]"


def stderr(text):
    return new_output("stream", name="stderr", text=text)


def widget(plain, **fallback):
    data = {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "abc"}, "text/plain": plain}
    return new_output("display_data", data={**data, **fallback})


def test_progress_bars_leave_and_warnings_stay():
    nb = new_notebook(
        cells=[
            new_code_cell("a", outputs=[stderr(BAR), stderr("\n"), new_output("stream", name="stdout", text="x\n")]),
            new_code_cell("b", outputs=[stderr("\rleft:  50%|#####     | 1/2 [00:00<00:00]\r                    \r")]),
            new_code_cell("c", outputs=[stderr("UserWarning: the sky is falling\n" + BAR + "\n")]),
            new_code_cell("d", outputs=[stderr("1234it [00:01, 1000.00it/s]\n")]),
        ]
    )
    assert leftovers(nb), "a notebook with bars is not clean"
    dropped = clean_outputs(nb)
    assert len(dropped) == 4
    assert [o.name for o in nb.cells[0].outputs] == ["stdout"], "the bar is gone, the print stays"
    assert nb.cells[1].outputs == [] and nb.cells[3].outputs == []
    (warning,) = nb.cells[2].outputs
    assert warning.name == "stderr" and warning.text == "UserWarning: the sky is falling\n", "a warning stays stderr"
    assert leftovers(nb) == ["cell 2 (In [ ]): stderr output ['UserWarning: the sky is falling']"]
    assert clean_outputs(nb) == [], "cleaning twice changes nothing"


def test_widgets_keep_their_static_view_and_their_state_leaves():
    nb = new_notebook(
        cells=[
            new_code_cell("bar", outputs=[widget(" 50%|#####     | 1/2 [00:00<00:00]")]),
            new_code_cell("explore", outputs=[widget("phase diagram", **{"text/html": "<p>static</p>"})]),
            new_code_cell("bare", outputs=[widget("VBox(children=(IntSlider(value=1),))")]),
        ]
    )
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert len(leftovers(nb)) == 5  # the bar counts twice: a progress bar, a widget
    clean_outputs(nb)
    assert nb.cells[0].outputs == [] and nb.cells[2].outputs == []
    (static,) = nb.cells[1].outputs
    assert set(static.data) == {"text/plain", "text/html"}
    assert "widgets" not in nb.metadata and leftovers(nb) == []
