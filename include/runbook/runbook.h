/*
 * runbook.h - the umbrella header of the runbook engine API.
 */
#ifndef RUNBOOK_RUNBOOK_H
#define RUNBOOK_RUNBOOK_H

#include "runbook/common.h"
#include "runbook/error.h"
#include "runbook/buf.h"
#include "runbook/strvec.h"
#include "runbook/util.h"
#include "runbook/diag.h"
#include "runbook/node.h"
#include "runbook/regex.h"
#include "runbook/expr.h"
#include "runbook/template.h"
#include "runbook/model.h"
#include "runbook/dag.h"
#include "runbook/params.h"
#include "runbook/scope.h"
#include "runbook/plan.h"
#include "runbook/engine.h"

#endif
