// Goes once daemon/ includes event_parser.hpp and task_json.hpp itself.
#pragma once

#include "progressista/event_parser.hpp"
#include "progressista/task_json.hpp"
