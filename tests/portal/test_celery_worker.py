from portal.tasks import echo, scheduler_heartbeat


def test_a_task_runs_on_a_real_worker_through_the_broker(celery_worker):
    result = echo.delay("ping through the broker")
    assert result.get(timeout=20) == "ping through the broker"
    assert scheduler_heartbeat.delay().get(timeout=20).endswith("+00:00")
