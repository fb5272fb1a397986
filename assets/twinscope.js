/* Clientside callbacks of twinscope: grow trajectories up to a time bin and highlight one condition in
   the decoding views without a server round trip; link 3-D cameras on the Compare page. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  twinscope: {
    grow: function (decoding, trajectories, t, hl) {
      var copy = function (fig) { return fig ? JSON.parse(JSON.stringify(fig)) : fig; };
      var dec = copy(decoding), traj = copy(trajectories);
      var kind = function (trace) { return trace.meta && trace.meta.kind; };
      var has = hl !== null && hl !== undefined;
      if (traj && traj.data) {
        var curves = {};
        traj.data.forEach(function (trace) {
          if (kind(trace) !== 'trajectory') { return; }
          var n = trace.x.length;
          var stop = (t === null || t === undefined) ? n : Math.max(1, Math.min(n, t + 1));
          ['x', 'y', 'z', 'text', 'customdata'].forEach(function (k) {
            if (Array.isArray(trace[k])) { trace[k] = trace[k].slice(0, stop); }
          });
          curves[trace.meta.condition] = [trace.x[stop - 1], trace.y[stop - 1], trace.z[stop - 1]];
          if (has) {
            var on = trace.meta.condition === hl;
            trace.opacity = on ? 1.0 : 0.2;
            trace.line = Object.assign({}, trace.line, {width: on ? 9 : 3});
          }
        });
        traj.data.forEach(function (trace) {
          if (kind(trace) !== 'end') { return; }
          trace.customdata.forEach(function (row, i) {
            var p = curves[row[0]];
            if (p) { trace.x[i] = p[0]; trace.y[i] = p[1]; trace.z[i] = p[2]; }
          });
        });
      }
      if (dec && dec.data && has) {
        dec.data.forEach(function (trace) {
          if (kind(trace) !== 'condition' || !Array.isArray(trace.customdata)) { return; }
          trace.marker = Object.assign({}, trace.marker, {
            size: trace.customdata.map(function (row) { return row[0] === hl ? 14 : 5; })
          });
        });
      }
      return [dec, traj];
    },

    pickCondition: function (decodingClick, trajectoriesClick) {
      var trig = window.dash_clientside.callback_context.triggered;
      var click = (trig.length && trig[0].prop_id.indexOf('explore-trajectories') >= 0)
        ? trajectoriesClick : decodingClick;
      var point = click && click.points && click.points[0];
      if (!point || !Array.isArray(point.customdata)) { return window.dash_clientside.no_update; }
      return point.customdata[0];
    },

    linkCameras: function (relayouts, link) {
      var trig = window.dash_clientside.callback_context.triggered;
      var moved = trig.length && trig[0].value;
      var camera = moved && moved['scene.camera'];
      if (!link || !link.length || !camera) { return window.dash_clientside.no_update; }
      var wanted = JSON.stringify(camera);
      document.querySelectorAll('#compare-panels .js-plotly-plot').forEach(function (el) {
        var current = el.layout && el.layout.scene && el.layout.scene.camera;
        if (el.data && el.data.length && JSON.stringify(current) !== wanted) {
          window.Plotly.relayout(el, {'scene.camera': camera});
        }
      });
      return window.dash_clientside.no_update;
    },

    /* Job bar clock: elapsed time and the remaining time, from the progress fraction once it says
       something (> 5 %), before that from the page's estimate (callbacks/plan.py). */
    jobClock: function (running, progress, estimates, started) {
      var now = Date.now() / 1000;
      var fmt = function (s) {
        s = Math.max(0, Math.round(s));
        return s < 90 ? s + ' s' : (s < 5400 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h');
      };
      if (!running) { return ['', null, true]; }
      var t0 = started || now, elapsed = now - t0, f = parseFloat(progress) || 0;
      var estimate = (estimates || []).filter(function (x) { return typeof x === 'number' && x > 0; })[0] || 0;
      var remaining = f > 0.05 ? elapsed * (1 - f) / f : (estimate ? Math.max(estimate - elapsed, 0) : null);
      var text = 'elapsed ' + fmt(elapsed) + (remaining === null ? '' : ' / about ' + fmt(remaining) + ' remaining');
      return [text, t0, false];
    },

    /* Graphs already drawn keep the config they were plotted with (dcc.Graph replots only when its figure
       changes), so the export format is also set on each drawn graph's live plotly context. */
    setImageFormat: function (format) {
      document.querySelectorAll('.js-plotly-plot').forEach(function (gd) {
        var options = gd._context && gd._context.toImageButtonOptions;
        if (!options) { return; }
        options.format = format;
        gd.querySelectorAll('.modebar-btn[data-title^="Download plot"]').forEach(function (button) {
          button.setAttribute('data-title', 'Download plot as ' + (format === 'svg' ? 'an SVG' : 'a PNG'));
        });
      });
      return format;
    }
  }
});
