"""The symbolic theory of the topic paper, one module per claim (notebooks/topic_structure/THEORY.md).

==========================  ==========================================================================
module                      what it derives and verifies
==========================  ==========================================================================
:mod:`.algebra`             the shared symbols (``T, v, tau, V, lam, D, p_c, p_r``), the ``I, B, J``
                            algebra, the loss at uniform attention as a function of the logit margin,
                            the one validator of a topic-model setting (:func:`algebra.topic_setting`)
:mod:`.embeddings`          C1: the optimal Gram matrix ``E E^T`` (closed form, condition for nonzero)
:mod:`.value_matrix`        C2: the optimal value matrix ``W_V`` (cross-entropy and squared loss)
:mod:`.finite_length`       C1, C2 at finite document length: the optimum training actually targets
:mod:`.attention`           C3: the score gradient at uniform attention, the optimal same-topic mass
:mod:`.two_stage_ode`       C4: the population loss on the symmetric subspace and its gradient flow (an ODE)
:mod:`.onset`               C4: stage 1 in closed form, the onset of stage 2 and how it scales
:mod:`.population_descent`  C4: full-matrix population gradient descent (the ODE's independent route) and
                            the orbits of the symmetric subspace
:mod:`.exchange`            C5: the copy/topic exchange rate of the population loss, the population optima
==========================  ==========================================================================

Import the module of the claim you need (``from topic_structure.theory import value_matrix``);
this package re-exports nothing, so each name has one home.
"""
