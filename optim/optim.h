// Everything in optim/: the optimizers, parameter groups, schedules and trust-ratio telemetry.
#pragma once
#include "optim/adabelief.h"
#include "optim/adam.h"
#include "optim/factory.h"
#include "optim/lamb.h"
#include "optim/lambc.h"
#include "optim/lars.h"
#include "optim/novograd.h"
#include "optim/optimizer.h"
#include "optim/param_group.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "optim/telemetry.h"
