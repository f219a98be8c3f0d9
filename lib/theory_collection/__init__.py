"""The paper-agnostic core of the theory-verification notebook collection.

``claims`` (claims tables and verdicts), ``params`` (typed checks, profile resolution), ``papers``
(the registry each paper joins), ``plots`` (saving figures), ``runner`` (executing notebooks),
``report`` (index and summary), ``sweep`` (parameter grids on Dask), ``course`` (exercises, their
isolated grading and nbgrader's course workflow) and ``cli`` (the command line). It imports no paper
package.
"""
