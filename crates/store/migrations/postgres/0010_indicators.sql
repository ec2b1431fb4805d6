-- Indicators: who may see exact small counts (everyone else sees cells under the
-- suppression threshold hidden, on screen and in anything exported).

insert into role_permissions (role, permission) values
  ('programme_manager', 'indicators.exact'),
  ('me_officer', 'indicators.exact');
