import { Routes } from '@angular/router';
import { LoginPage } from './login';
import { PeoplePage } from './people';

export const routes: Routes = [
  { path: 'login', component: LoginPage },
  { path: '', component: PeoplePage },
  { path: '**', redirectTo: '' },
];
