/*
 * `cltool train`: multinomial logistic regression on IDX files (MNIST,
 * Fashion-MNIST) through the linear head of clxent. It parses its own
 * options; `cltool train --help` tells them.
 */
#ifndef CLTOOL_TRAIN_H
#define CLTOOL_TRAIN_H

/* argv[0] is "train". Returns a cltool exit code. */
int run_train(int argc, char **argv);

#endif /* CLTOOL_TRAIN_H */
