"""Paper 2: "Mechanics of Next Token Prediction with Self-Attention" (Li, Huang, Ildiz, Rawat, Oymak, AISTATS 2024).

Modules, split by concern (each imports only those above it in this list):
  graphs        - token-priority graphs, strongly connected components (iterative Tarjan), priority order, C_i
  data          - datasets (E, tok, y): seeded generator with the public code's classes, the one reader of dataset files
  toys          - the two hand-made datasets with answers derived by hand
  loss          - the log-loss of one-layer attention with the aligned head, its gradient and Hessian
  svm           - the exact Graph-SVM with a KKT certificate, the cyclic subspace S_fin, W^fin and L*
  stacked       - datasets of one shape stacked, their exact solutions, the batched loss and gradient
  path          - the one regularization path (Newton on S_data), for one dataset or a stack
  verify        - independent routes (SLSQP, BFGS, Hessians) that the structure claims compare against
  measurements  - what a run is measured by (cos to W^svm, distance to W^fin, residual, retrieval, loss gap)
  training      - batched GD and normalized GD from a chosen start
  evidence      - measured value, criterion and regime of each training claim
  public_code   - the authors' configurations, cited by file and line
  experiments   - runs in the public code's protocol (E1-E3, and its setting on acyclic data)
  automaton     - N8: the layer on new contexts, and sampling next tokens
  general_head  - N10: the general head, the local SVM, factorised attention
  nuclear_svm   - the nuclear-norm Graph-SVM and the (K, Q) regularization path
  realtext, realtext_graphs, realtext_layer - Wikipedia windows, their priority graphs, the layer trained on them
  figures       - every figure of the notebooks
  bounds, profiles, params, paper - the memory and time estimates, the profiles, the parameters' rules, the entry
  claims/       - one module per notebook holding its claims (``claims/__init__`` lists them)
"""
