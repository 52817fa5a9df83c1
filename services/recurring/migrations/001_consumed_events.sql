-- The consumer runtime's record of consumed events (pkg/consume.TableSQL, given as
-- ConsumedEventsTable by the service's Migrations):
-- a handled completion is recorded with its series progress, so a
-- redelivered one is skipped.
{{ .ConsumedEventsTable }}
