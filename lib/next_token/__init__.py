"""Paper 2: "Mechanics of Next Token Prediction with Self-Attention" (Li, Huang, Ildiz, Rawat, Oymak, AISTATS 2024).

Modules, split by concern:
  data    - datasets (E, tok, y): seeded generator with the public code's classes, JSON files, validation
  graphs  - token-priority graphs, strongly connected components (iterative Tarjan), priority order, C_i
  loss    - the log-loss of one-layer attention with the aligned head, its gradient and Hessian
  svm     - the exact Graph-SVM with a KKT certificate, the cyclic subspace S_fin, W^fin and L*
"""
