"""A course taught from the collection: exercises in the notebooks, hidden cases, grading and nbgrader's workflow.

- :mod:`~theory_collection.course.exercises`: the notebook convention (solution, autograder and
  written cells) and the student and instructor copies;
- :mod:`~theory_collection.course.checks`: how an instructor's course file states hidden cases;
- :mod:`~theory_collection.course.grader` and :mod:`~theory_collection.course.sandbox`: grading a
  solution outside the student's kernel;
- :mod:`~theory_collection.course.nbgrader_grading`: that grading as an nbgrader preprocessor;
- :mod:`~theory_collection.course.workflow`: ``course init`` and ``course grade``.
"""
